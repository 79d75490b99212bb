"""agentsched: the admin CLI of the REST API (see agentsched.cli)."""

import sys

from agentsched.cli import app


def main(argv=None):
    return app.main(sys.argv[1:] if argv is None else list(argv))


if __name__ == '__main__':
    sys.exit(main())
