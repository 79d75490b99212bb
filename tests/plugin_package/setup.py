"""A scheduling algorithm shipped by another package, for
tests/functional/test_external_algorithm.py."""

import setuptools

setuptools.setup(
    name='agentsched-first-fit',
    version='1.0',
    packages=['agentsched_first_fit'],
    entry_points={
        'agentsched.algorithms': [
            'first_fit = agentsched_first_fit:FirstFit',
        ],
    },
)
