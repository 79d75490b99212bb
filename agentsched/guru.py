"""Guru meditation reports (oslo.reports), as every OpenStack service has.

SIGUSR2 to agentsched-server or agentsched-agent (`systemctl kill -s USR2
<unit>` signals the supervising process and its worker) writes a report of
each process: the package and version, every thread's and green thread's stack,
the configuration (options marked secret are shown as ***: keys, the
database URL, the leader backend), and agentsched's own state (the
server's report counters, the agent's deployments and fencing). To stderr,
which the service manager keeps in the journal, or to a file in
[oslo_reports] log_dir when set.
"""

import importlib.metadata
import pprint

from oslo_reports import guru_meditation_report as gmr
from oslo_reports.models import with_default_views as views
from oslo_reports import opts as gmr_opts

PACKAGE = 'agentsched'


class Version:
    """What oslo.reports asks of a product's version."""

    @staticmethod
    def vendor_string():
        return 'agentsched'

    @staticmethod
    def product_string():
        return PACKAGE

    @staticmethod
    def version_string_with_package():
        try:
            return importlib.metadata.version(PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            return 'unknown'


def register_opts(conf):
    """[oslo_reports] options (log_dir, file_event_handler, ...)."""
    gmr_opts.set_defaults(conf)


# oslo.service runs the service in a worker process it forks (cotyledon);
# the parent only supervises it. Both take the signal (systemd's `kill`
# signals the whole unit): the parent's report says where to look.
SUPERVISOR = ('this is the supervising process: the worker process it '
              'forked runs the service and reports its state')


def setup(conf, service_name, state):
    """Install the report's signal handler; state: a callable returning a
    dict of the process's own state for the report's last section, or None
    where the service does not run (the supervising parent)."""
    register_opts(conf)

    def section():
        try:
            current = state()
            text = SUPERVISOR if current is None else pprint.pformat(
                current, width=100, sort_dicts=True)
        except Exception as exc:
            # A report must never fail on the state it describes.
            text = 'state unavailable: %s: %s' % (type(exc).__name__, exc)
        return views.ModelWithDefaultViews({'state': text},
                                           text_view=_StateView())

    gmr.TextGuruMeditation.register_section('agentsched', section)
    gmr.TextGuruMeditation.setup_autorun(Version, service_name=service_name,
                                         conf=conf)


class _StateView:
    def __call__(self, model):
        return model['state']
