"""Finding the line of a key path in TOML text."""

from edgecam.config.locate import key_lines, line_of

TEXT = '''\
# top comment
title = "x"
[camera]
id = "a"
"quoted key" = 1
nested.deep = 2
list = [
  1,
  { fake = 3 },
]
after = """multi
fake2 = 4
"""
tail = 5
[[zones]]
name = "one"
[zones.extra]
k = 1
[[zones]]
name = "two"
[ model ]
size = 640  # comment [x]
'''


def test_key_lines():
    lines = key_lines(TEXT)
    assert lines[("title",)] == 2
    assert lines[("camera",)] == 3
    assert lines[("camera", "id")] == 4
    assert lines[("camera", "quoted key")] == 5
    assert lines[("camera", "nested", "deep")] == 6
    assert lines[("camera", "nested")] == 6  # a dotted key defines its prefixes at its own line
    assert lines[("camera", "list")] == 7
    assert ("camera", "fake") not in lines and ("fake",) not in lines  # inside the array
    assert lines[("camera", "after")] == 11
    assert ("camera", "fake2") not in lines  # inside the multi-line string
    assert lines[("camera", "tail")] == 14
    assert lines[("zones",)] == 15
    assert lines[("zones", 0)] == 15 and lines[("zones", 0, "name")] == 16
    assert lines[("zones", 0, "extra", "k")] == 18
    assert lines[("zones", 1)] == 19 and lines[("zones", 1, "name")] == 20
    assert lines[("model", "size")] == 22


def test_line_of_falls_back_to_parent():
    lines = key_lines(TEXT)
    assert line_of(lines, ("camera", "list", 1)) == 7
    assert line_of(lines, ("camera", "missing")) == 3
    assert line_of(lines, ("zones", 1, "points", 0)) == 19
    assert line_of(lines, ("nothing",)) is None


def test_inline_table_keys_fall_back_to_the_table_key():
    lines = key_lines('camera = { id = "x", fps = 5 }\nmodel.size = 3\n')
    assert line_of(lines, ("camera", "fps")) == 1
    assert lines[("model", "size")] == 2
