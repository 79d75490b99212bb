"""README.md renders as meant: read with a CommonMark parser (markdown-it-py),
its sections are headings, not text swallowed by a code block, every fenced
block is closed, and the commands a new user copies are in sh blocks."""

import os

import markdown_it
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
README = os.path.join(ROOT, 'README.md')

SECTIONS = ('Try it: one command, no services', 'Run the tests',
            'Production')
TRY_IT = ('python3 -m venv .venv && .venv/bin/pip install . && '
          '.venv/bin/agentsched-server --local-agents 3')
RUN_TESTS = ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
             ".venv/bin/python -m pytest")


def parse(text):
    return markdown_it.MarkdownIt('commonmark').parse(text)


def headings(tokens, level):
    """Texts of the headings of that level (h1, h2...), in order."""
    return [tokens[i + 1].content for i, token in enumerate(tokens)
            if token.type == 'heading_open' and token.tag == level]


def fences(tokens):
    return [token for token in tokens if token.type == 'fence']


def unclosed_fences(text):
    """Fences without their own closing line. CommonMark runs an unclosed
    fence to the end of the document, so its last line is not a closing
    fence; or, when a later block's closing line happens to close it, it
    has swallowed that block's opening line (a fence with an info string,
    which can only open one)."""
    lines = text.splitlines()
    found = []
    for token in fences(parse(text)):
        start, end = token.map
        closing = lines[end - 1].strip() if end - 1 > start else ''
        marker = token.markup[0]
        closed = (len(closing) >= len(token.markup)
                  and closing == marker * len(closing))
        swallowed = any(
            line.strip().startswith(marker * 3)
            and line.strip().lstrip(marker).strip()
            for line in token.content.splitlines())
        if not closed or swallowed:
            found.append('line %d: %s%s' % (start + 1, token.markup,
                                            token.info))
    return found


@pytest.fixture(scope='module')
def text():
    with open(README, encoding='utf-8') as readme:
        return readme.read()


@pytest.fixture(scope='module')
def tokens(text):
    return parse(text)


def test_the_sections_are_top_level_headings(tokens):
    assert headings(tokens, 'h1') == ['agentsched']
    sections = headings(tokens, 'h2')
    for section in SECTIONS:
        assert section in sections
    assert [s for s in sections if s in SECTIONS] == list(SECTIONS)


def test_no_section_is_inside_a_code_block(tokens):
    for token in tokens:
        if token.type in ('fence', 'code_block'):
            for section in SECTIONS:
                assert '## ' + section not in token.content


def test_every_fence_is_closed(text):
    assert fences(parse(text))
    assert unclosed_fences(text) == []


def test_an_unclosed_fence_is_detected():
    broken = '# t\n\n```sh\necho hi\n\n## Run the tests\n\ntext\n'
    assert unclosed_fences(broken) == ['line 3: ```sh']
    assert headings(parse(broken), 'h2') == []
    # A longer or tilde fence closes only with its own marker.
    assert unclosed_fences('````\na\n```\n') == ['line 1: ````']
    assert unclosed_fences('~~~sh\na\n~~~\n') == []
    # Closed by the next block's closing line: that block's opener is in it.
    swallowing = '```sh\na\n\n## Run the tests\n\n```sh\nb\n```\n'
    assert unclosed_fences(swallowing) == ['line 1: ```sh']


@pytest.mark.parametrize('command', [TRY_IT, RUN_TESTS],
                         ids=['try-it', 'run-the-tests'])
def test_the_readme_commands_are_in_sh_fences(tokens, command):
    blocks = [token.content for token in fences(tokens)
              if token.info.strip() == 'sh']
    assert any(command in block.splitlines() for block in blocks)


def test_each_command_is_in_its_section(tokens):
    section = None
    where = {}
    for i, token in enumerate(tokens):
        if token.type == 'heading_open' and token.tag == 'h2':
            section = tokens[i + 1].content
        elif token.type == 'fence' and token.info.strip() == 'sh':
            for line in token.content.splitlines():
                where.setdefault(line, section)
    assert where.get(TRY_IT) == 'Try it: one command, no services'
    assert where.get(RUN_TESTS) == 'Run the tests'


def test_production_installs_from_the_checkout(tokens):
    production = False
    lines = []
    for i, token in enumerate(tokens):
        if token.type == 'heading_open' and token.tag == 'h2':
            production = tokens[i + 1].content == 'Production'
        elif production and token.type == 'fence' and token.info == 'sh':
            lines += token.content.splitlines()
    installs = [line for line in lines if line.startswith('pip install')]
    assert installs
    # agentsched is not on PyPI: only a path (the checkout) installs it.
    for line in installs:
        assert "pip install '.[" in line, line
