from alembic import context

from agentsched.db import models


def run_migrations_online():
    engine = context.config.attributes['engine']
    with engine.begin() as connection:
        context.configure(connection=connection,
                          target_metadata=models.Base.metadata,
                          render_as_batch=True)
        context.run_migrations()


run_migrations_online()
