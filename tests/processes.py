"""Real agentsched processes for end-to-end tests, each in its own group."""

import os
import signal
import subprocess
import time

from tests import commands


class Process:

    def __init__(self, name, args, log_path, env=None):
        self.name = name
        self.args = args
        self.log_path = str(log_path)
        self.env = env
        self.popen = None

    def start(self):
        log = open(self.log_path, 'a')
        # A session of its own: oslo.service forks a worker, and a signal to
        # the group reaches both, as a host crash or systemd stop would.
        self.popen = subprocess.Popen(
            [commands.script(self.name)] + self.args, stdout=log,
            stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        return self

    def log(self):
        with open(self.log_path) as log:
            return log.read()

    def wait_for_log(self, text, timeout=30, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return True
            if self.popen.poll() is not None:
                raise AssertionError('%s exited with %s:\n%s' % (
                    self.name, self.popen.returncode, self.log()[-3000:]))
            time.sleep(0.1)
        raise AssertionError('%r not in the log of %s after %s s:\n%s' % (
            text, self.name, timeout, self.log()[-3000:]))

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=20):
        """SIGTERM, as systemd stops a service; returns the exit code."""
        if self.popen is None or self.popen.poll() is not None:
            return self.popen and self.popen.returncode
        self.kill(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.popen.wait()
            raise AssertionError('%s ignored SIGTERM:\n%s' % (
                self.name, self.log()[-3000:]))

    def ensure_dead(self):
        if self.popen is not None:
            self.kill()
            self.popen.wait()
