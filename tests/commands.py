"""Running agentsched's console scripts as a user would, for tests."""

import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def script(name):
    return os.path.join(BIN, name)


def write_config(path, database_url=None, bus=None, **sections):
    """An agentsched.conf; sections map a group to {option: value}."""
    # A free port for each server's REST API; it is logged at start.
    groups = {'DEFAULT': {'bind_port': 0}}
    if database_url:
        groups['database'] = {'connection': database_url}
    if bus is not None:
        groups['DEFAULT'].update(transport_url=bus.url,
                                 control_exchange=bus.exchange)
        groups['reports'] = {'topic': bus.reports_topic}
    for group, options in sections.items():
        groups.setdefault(group, {}).update(options)
    with open(path, 'w') as conf:
        for group, options in groups.items():
            conf.write('[%s]\n' % group)
            for key, value in options.items():
                conf.write('%s = %s\n' % (key, value))
    return str(path)


def run(name, *args, check=True, **kwargs):
    return subprocess.run([script(name)] + list(args), capture_output=True,
                          text=True, check=check, timeout=120, **kwargs)
