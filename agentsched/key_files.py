"""Key files of the embedded default: made on first use, ours only."""

import os
import tempfile


def read_or_create(directory, name, generate):
    """The key in directory/name; a new one from generate() if absent."""
    path = os.path.join(directory, name)
    try:
        with open(path) as key_file:
            return key_file.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(directory, exist_ok=True)
    # Written aside, then linked into place: a process racing us reads
    # either no file or a whole key, never an empty one.
    descriptor, temporary = tempfile.mkstemp(dir=directory)  # mode 0600
    try:
        with os.fdopen(descriptor, 'w') as key_file:
            key_file.write(generate() + '\n')
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    with open(path) as key_file:
        return key_file.read().strip()
