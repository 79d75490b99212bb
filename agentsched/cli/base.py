"""What every API command shares."""

from cliff import lister

from agentsched.cli import client as api_client
from agentsched.cli import formats


class APICommand:
    """Mixin before a cliff command class: self.client (under agentsched or
    openstack), and any unexpected failure turned into one line (cliff
    would print only str(exc), which for a KeyError is just the key)."""

    @property
    def client(self):
        # Under openstack (cli/osc_plugin.py) osc-lib's ClientManager has
        # it, built by make_client; the agentsched App builds its own.
        manager = getattr(self.app, 'client_manager', None)
        return self.app.client if manager is None else manager.agentsched

    def get_epilog(self):
        # cliff's own maps every installed module to its distribution, a
        # second with a full OpenStack client installed, only to name the
        # plugin a command comes from: these all come from agentsched.
        return self._epilog or ''

    def produce_output(self, parsed_args, column_names, data):
        # Every field printed may be a tenant's or a server's text: escape
        # control characters (ESC, BEL, CR, bidi overrides) here, in the one
        # place all output goes through, unless the format escapes them.
        if getattr(parsed_args, 'formatter', None) not in \
                formats.SELF_ESCAPING:
            column_names = [formats.escaped_name(name)
                            for name in column_names]
            if isinstance(self, lister.Lister):
                data = ([formats.escaped(value) for value in row]
                        for row in data)
            else:
                data = [formats.escaped(value) for value in data]
        return super().produce_output(parsed_args, column_names, data)

    def run(self, parsed_args):
        try:
            return super().run(parsed_args)
        except api_client.CLIError:
            raise
        except Exception as exc:
            if self.app.options.debug:
                raise
            raise api_client.CLIError(
                'Unexpected error: %s: %s (--debug shows the traceback)' % (
                    type(exc).__name__, api_client.one_line(exc))) from exc


def delete_each(command, ids, path_of, noun):
    """DELETE each id; one refusal does not stop the others, and the
    command fails at the end if any was refused."""
    failures = 0
    for item in ids:
        try:
            command.client.delete(path_of(item))
        except api_client.CLIError as exc:
            if len(ids) == 1:
                raise
            failures += 1
            command.app.stderr.write('%s: %s\n' % (item, exc))
    if failures:
        raise api_client.CLIError('%d of %d %s not deleted' % (
            failures, len(ids), noun))
