"""Writing drivers' files so that a reader never sees half of one."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def staged(path, text, mode=0o644):
    """Write text next to path and yield the temporary name; on a clean
    exit rename it over path (atomic on one filesystem), else remove it.

    The mode is set before any byte is written, so a secret is never
    readable by others, even for an instant.
    """
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'w') as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write(path, text, mode=0o644):
    with staged(path, text, mode):
        pass


def read(path, default=None):
    try:
        with open(path) as stream:
            return stream.read()
    except FileNotFoundError:
        return default


def read_json(path, default):
    return parse_json(read(path), default)


def parse_json(text, default):
    """A JSON file's text (None: no file) as a document, or default when
    it is missing or damaged."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def dump_json(document):
    return json.dumps(document, sort_keys=True, indent=1)


def write_json(path, document, mode=0o600):
    write(path, dump_json(document), mode)
