"""The installed plugins of one kind (device types, resource types), by name."""

import stevedore


class PluginRegistry:
    """Loads a namespace's plugins once; get() names the known ones when
    asked for an unknown one, which is what a 400 should say."""

    def __init__(self, namespace, what, unknown_error, plugins=None):
        if plugins is None:
            manager = stevedore.ExtensionManager(namespace,
                                                 invoke_on_load=True)
            plugins = [extension.obj for extension in manager]
        self._plugins = {plugin.name: plugin for plugin in plugins}
        self._what = what
        self._unknown_error = unknown_error

    def names(self):
        return sorted(self._plugins)

    def get(self, name):
        try:
            return self._plugins[name]
        except KeyError:
            raise self._unknown_error('Unknown %s %r; known: %s' % (
                self._what, name, ', '.join(self.names())))
