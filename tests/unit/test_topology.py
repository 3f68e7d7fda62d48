"""Every validation path of ``topology.load``: exact problem lines, positions, no crash.

Positions are 1-based ``line:column``. Unknown keys and bad map keys point at the key;
wrong values point at the value; missing keys point at the mapping that lacks them.
"""

from __future__ import annotations

import io
import random
import textwrap
from pathlib import Path

import pytest

from mr_failover import topology
from mr_failover.errors import EXIT_USAGE, ConfigError
from mr_failover.topology import Topology

EXAMPLE = topology.shipped_example()

# A minimal valid file whose line numbers the tests below rely on.
MINIMAL = """\
application: shop
account_id: "012345678901"
primary_region: us-east-1
policy:
  rpo_seconds: 60
  rto_seconds: 900
regions:
  us-east-1:
    profile: shop-east
  us-west-2:
    role_arn: arn:aws:iam::012345678901:role/failover
"""


def write(tmp_path: Path, text: str | bytes, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def edit(text: str, old: str, new: str) -> str:
    """Replace one exact occurrence, so a stale test fails instead of testing nothing."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    """The problem lines of loading ``text``, with the file name replaced by 'F'."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        topology.load(path)
    assert info.value.exit_code == EXIT_USAGE
    lines = info.value.problems or [str(info.value)]
    return [line.replace(str(path), "F", 1) for line in lines]


def at(text: str, needle: str, nth: int = 1) -> str:
    """``line:col`` of the nth occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    before = text[:index]
    return f"{before.count(chr(10)) + 1}:{index - before.rfind(chr(10))}"


# --- valid files ---------------------------------------------------------------------


def test_the_shipped_example_loads(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, EXAMPLE))
    assert list(t.regions) == ["us-east-1", "us-west-2"]
    assert t.writer_region() == "us-east-1"
    assert t.regions["us-west-2"].s3_buckets[0].replicate_to[0].bucket == "arc309-assets-use1"


def test_two_regions_with_profile_and_role_arn_load(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, MINIMAL))
    assert t.regions["us-east-1"].profile == "shop-east"
    assert t.regions["us-east-1"].role_arn is None
    assert t.regions["us-west-2"].role_arn == "arn:aws:iam::012345678901:role/failover"
    assert t.regions["us-west-2"].profile is None


def ten_regions() -> str:
    codes = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-southeast-1",
        "ap-northeast-1",
        "sa-east-1",
    ]
    assert all(c in topology.known_regions() for c in codes)
    body = ""
    for i, code in enumerate(codes):
        body += textwrap.indent(
            textwrap.dedent(f"""\
            {code}:
              profile: p{i}
              aurora: {{cluster: c{i}, role: {"writer" if i == 0 else "secondary"},
                        global_cluster: g}}
              dynamodb_tables: [orders]
              s3_buckets:
                - name: b{i}
                  replicate_to: [{{bucket: b{(i + 1) % 10}, region: {codes[(i + 1) % 10]}}}]
            """),
            "  ",
        )
    head = MINIMAL.split("regions:")[0]
    return head + "regions:\n" + body


def test_ten_regions_load(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, ten_regions()))
    assert len(t.regions) == 10
    assert t.writer_region() == "us-east-1"
    assert t.regions["sa-east-1"].s3_buckets[0].replicate_to[0].region == "us-east-1"


def test_a_region_may_have_both_profile_and_role_arn(tmp_path: Path) -> None:
    text = edit(
        MINIMAL,
        "    profile: shop-east\n",
        "    profile: shop-east\n    role_arn: arn:aws:iam::012345678901:role/x\n",
    )
    t = topology.load(write(tmp_path, text))
    assert t.regions["us-east-1"].role_arn == "arn:aws:iam::012345678901:role/x"


def test_merge_keys_are_supported_and_explicit_keys_win(tmp_path: Path) -> None:
    text = MINIMAL.split("regions:")[0] + textwrap.dedent("""\
        regions:
          us-east-1:
            traffic:
              drain_lever: weight
              records:
                - &rec {zone: z., name: api.z., set_identifier: east, routing_policy: weighted,
                        weight: 100, value: east.z}
          us-west-2:
            traffic:
              drain_lever: weight
              records:
                - <<: *rec
                  set_identifier: west
                  value: west.z
        """)
    t = topology.load(write(tmp_path, text))
    west = t.regions["us-west-2"].traffic.records[0]
    assert (west.set_identifier, west.value, west.weight) == ("west", "west.z", 100)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    assert topology.load(write(tmp_path, "\ufeff" + MINIMAL)).application == "shop"


# --- file-level problems ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        topology.load(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file (pass --config FILE)"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        topology.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a topology file"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, for whom chmod 000 changes nothing: make the open fail instead.
    path = write(tmp_path, MINIMAL)

    def denied(self: Path, *args: object, **kwargs: object) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(ConfigError) as info:
        topology.load(path)
    assert str(info.value) == f"{path}: not readable (permission denied)"


def test_other_os_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL)

    def broken(self: Path, *args: object, **kwargs: object) -> io.BufferedReader:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "open", broken)
    with pytest.raises(ConfigError) as info:
        topology.load(path)
    assert str(info.value) == f"{path}: cannot read: Input/output error"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert problems(tmp_path, text) == [
        "F: the file is empty; see config/regions.yaml for an example"
    ]


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("[]\n", "a list"),
        ("- a\n- b\n", "a list"),
        ("hello\n", "'hello' (a string)"),
        ("42\n", "42 (an integer)"),
        ("null\n", "nothing (null)"),
        ("true\n", "true (a boolean)"),
    ],
)
def test_document_that_is_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    assert problems(tmp_path, text) == [
        f"F:1:1: the top level must be a mapping of keys (like 'application: shop'), got {got}"
    ]


def test_huge_file(tmp_path: Path) -> None:
    text = MINIMAL + "# " + "x" * topology.MAX_FILE_BYTES + "\n"
    assert problems(tmp_path, text) == [
        f"F: larger than {topology.MAX_FILE_BYTES} bytes; too large for a topology file"
    ]


def test_binary_junk(tmp_path: Path) -> None:
    junk = b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(200)
    assert problems(tmp_path, junk) == ["F:1:1: not UTF-8 text (byte 0); is it a binary file?"]


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    text = MINIMAL.encode().replace(b"shop-east", b"shop-\xe9ast")
    assert problems(tmp_path, text) == [
        f"F:9:19: not UTF-8 text (byte {MINIMAL.index('shop-east') + 5}); is it a binary file?"
    ]
    assert at(MINIMAL, "shop-east") == "9:14"  # the bad byte is 5 characters in


def test_nul_byte(tmp_path: Path) -> None:
    text = edit(MINIMAL, "application: shop", "application: sh\x00op")
    assert problems(tmp_path, text) == ["F:1:16: contains a NUL byte; is it a binary file?"]


def test_control_character(tmp_path: Path) -> None:
    text = edit(MINIMAL, "application: shop", "application: sh\x07op")
    assert problems(tmp_path, text) == [
        "F:1:16: invalid YAML: control character U+0007 is not allowed"
    ]


def test_truncated_yaml(tmp_path: Path) -> None:
    text = MINIMAL + '    profile: "unterminated\n'
    assert problems(tmp_path, text) == [
        "F:13:1: invalid YAML: found unexpected end of stream (while scanning a quoted scalar)"
    ]


def test_truncated_flow_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "policy: {rpo_seconds: 1\n") == [
        "F:2:1: invalid YAML: expected ',' or '}', but got '<stream end>' "
        "(while parsing a flow mapping)"
    ]


def test_tabs(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  rpo_seconds: 60", "\trpo_seconds: 60")
    assert problems(tmp_path, text) == [
        "F:5:1: invalid YAML: found character '\\t' that cannot start any token "
        "(while scanning for the next token)"
    ]


def test_two_documents(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + "---\na: 1\n") == [
        "F:12:1: invalid YAML: but found another document "
        "(expected a single document in the stream)"
    ]


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    # "Billion laughs": 9 levels of 9 aliases is 9**9 values once expanded.
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    assert problems(tmp_path, "\n".join(lines) + "\n") == [
        f"F: expands to more than {topology.MAX_NODES} values (YAML alias bomb?)"
    ]


def test_deep_nesting_is_refused_without_recursion_error(tmp_path: Path) -> None:
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    assert problems(tmp_path, text) == [
        # The top-level mapping is the first level.
        f"F:1:{3 + topology.MAX_DEPTH}: nested more than {topology.MAX_DEPTH} levels deep"
    ]


def test_deep_nesting_through_aliases_is_refused(tmp_path: Path) -> None:
    # Each alias adds 20 levels to a chain that the event stream sees as shallow.
    lines = ["x0: &x0 " + "[" * 20 + "]" * 20]
    lines += [f"x{i}: &x{i} " + "[" * 19 + f"*x{i - 1}" + "]" * 19 for i in range(1, 4)]
    found = problems(tmp_path, "\n".join(lines) + "\n")
    assert any(f"nested more than {topology.MAX_DEPTH} levels deep" in p for p in found)


def test_recursive_alias(tmp_path: Path) -> None:
    text = MINIMAL + "extra: &loop [*loop]\n"
    assert "F:12:8: extra.0: an alias inside this node refers to the node itself" in problems(
        tmp_path, text
    )


# --- YAML values the loader cannot build ---------------------------------------------------


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    text = edit(MINIMAL, "application: shop\n", "application: shop\napplication: shoe\n")
    assert problems(tmp_path, text) == [
        "F:2:1: application: duplicate key 'application' (first at line 1)"
    ]


def test_duplicate_nested_keys_are_all_reported(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  rto_seconds: 900\n", "  rto_seconds: 900\n  rpo_seconds: 5\n")
    text = edit(text, "    profile: shop-east\n", "    profile: shop-east\n    profile: x\n")
    assert problems(tmp_path, text) == [
        "F:7:3: policy.rpo_seconds: duplicate key 'rpo_seconds' (first at line 5)",
        "F:11:5: regions.us-east-1.profile: duplicate key 'profile' (first at line 10)",
    ]


def test_duplicate_region(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  us-west-2:", "  us-east-1:")
    assert problems(tmp_path, text) == [
        "F:8:3: regions: needs at least 2 regions, got 1",
        "F:10:3: regions.us-east-1: duplicate key 'us-east-1' (first at line 8)",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!python/object:os.system x", "the YAML tag !!python/object:os.system is not supported"),
        ("!custom x", "the YAML tag !custom is not supported"),
        ("!!int sixty", "cannot read 'sixty': invalid literal for int() with base 10: 'sixty'"),
        ("2001-13-45", "cannot read '2001-13-45': month must be in 1..12"),
        ("!!float x", "cannot read 'x': could not convert string to float: 'x'"),
        ("!!binary aGk=", "expected a string, got b'hi' (binary data); put it in quotes"),
        ("!!set {a}", "the YAML tag !!set is not supported"),
        ("!!omap [a: 1]", "the YAML tag !!omap is not supported"),
    ],
)
def test_unreadable_values_name_their_position(tmp_path: Path, value: str, message: str) -> None:
    text = edit(MINIMAL, "application: shop", f"application: {value}")
    assert problems(tmp_path, text) == [f"F:1:14: application: {message}"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("1", "key 1 (an integer) is not a name; put it in quotes"),
        ("~", "key nothing (null) is not a name; put it in quotes"),
        ("on", "key true (a boolean) is not a name; put it in quotes"),
        ("[a, b]", "a key must be a name, not a list"),
        ("{a: b}", "a key must be a name, not a mapping"),
    ],
)
def test_keys_that_are_not_names(tmp_path: Path, key: str, message: str) -> None:
    text = edit(MINIMAL, "    profile: shop-east\n", f"    profile: shop-east\n    {key}: x\n")
    assert problems(tmp_path, text) == [f"F:10:5: regions.us-east-1: {message}"]


def test_merge_of_a_scalar(tmp_path: Path) -> None:
    text = edit(MINIMAL, "    profile: shop-east\n", "    profile: shop-east\n    <<: 3\n")
    assert problems(tmp_path, text) == [
        "F:10:9: regions.us-east-1: '<<' merges a mapping or a list of mappings"
    ]


# --- shape problems (pydantic), in words --------------------------------------------------


def test_unknown_key_points_at_the_key_and_suggests(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  rpo_seconds: 60", "  rpo_secnds: 60")
    assert problems(tmp_path, text) == [
        "F:4:1: policy.rpo_seconds: missing required key 'rpo_seconds'",
        "F:5:3: policy.rpo_secnds: unknown key 'rpo_secnds' (did you mean 'rpo_seconds'?)",
    ]


def test_unknown_key_without_a_near_name_lists_the_keys(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  rto_seconds: 900", "  rto_seconds: 900\n  zzz: 1")
    assert problems(tmp_path, text) == [
        "F:7:3: policy.zzz: unknown key 'zzz' "
        "(expected one of: rpo_seconds, rto_seconds, certificate_min_days)"
    ]


def test_unknown_key_deep_in_a_list(tmp_path: Path) -> None:
    old = "        - { name: arc309-web-usw2, takeover_desired: 4 }"
    text = edit(EXAMPLE, old, old.replace("takeover_desired", "takeover_desird"))
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'takeover_desird')}: regions.us-west-2.compute.autoscaling_groups.0."
        "takeover_desird: unknown key 'takeover_desird' (did you mean 'takeover_desired'?)"
    ]


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    text = edit(EXAMPLE, "cluster: arc309-usw2", "cluster: 123")
    # '123' also starts the account id in the file's ARNs: count those before it.
    nth = text[: text.index("cluster: 123")].count("123") + 1
    assert problems(tmp_path, text) == [
        f"F:{at(text, '123', nth)}: regions.us-west-2.aurora.cluster: "
        "expected a string, got 123 (an integer); put it in quotes"
    ]


@pytest.mark.parametrize(
    ("old", "new", "where", "path", "message"),
    [
        (
            "application: shop",
            "application: 2024-01-01",
            "1:14",
            "application",
            "expected a string, got 2024-01-01 (a date); put it in quotes",
        ),
        (
            "application: shop",
            "application: [a]",
            "1:14",
            "application",
            "expected a string, got a list",
        ),
        ("application: shop", "application: ''", "1:14", "application", "must not be empty"),
        ("application: shop", "application: '   '", "1:14", "application", "must not be empty"),
        (
            "application: shop",
            "application: " + "a" * 256,
            "1:14",
            "application",
            "longer than 255 characters",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: sixty",
            "5:16",
            "policy.rpo_seconds",
            "expected a whole number, got 'sixty' (a string)",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: 60.5",
            "5:16",
            "policy.rpo_seconds",
            "expected a whole number, got 60.5 (a decimal number)",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: .nan",
            "5:16",
            "policy.rpo_seconds",
            "expected a whole number, got nan (a decimal number)",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: true",
            "5:16",
            "policy.rpo_seconds",
            "expected a whole number, got true (a boolean)",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: -1",
            "5:16",
            "policy.rpo_seconds",
            "must be at least 0, got -1 (an integer)",
        ),
        (
            "rpo_seconds: 60",
            "rpo_seconds: 86401",
            "5:16",
            "policy.rpo_seconds",
            "must be at most 86400, got 86401 (an integer)",
        ),
        (
            "rto_seconds: 900",
            "rto_seconds: 0",
            "6:16",
            "policy.rto_seconds",
            "must be more than 0, got 0 (an integer)",
        ),
        (
            'account_id: "012345678901"',
            'account_id: "1234"',
            "2:13",
            "account_id",
            'expected a 12-digit account id in quotes, like "012345678901", '
            "got '1234' (a string)",
        ),
        (
            'account_id: "012345678901"',
            "account_id: 123456789012",
            "2:13",
            "account_id",
            'write the account id as a quoted 12-digit string, like "012345678901" '
            "(YAML reads unquoted digits as a number and drops leading zeros)",
        ),
        (
            "primary_region: us-east-1",
            "primary_region: Virginia",
            "3:17",
            "primary_region",
            "'Virginia' is not an AWS region code (for example us-east-1)",
        ),
        (
            "primary_region: us-east-1",
            "primary_region: us-eats-1",
            "3:17",
            "primary_region",
            "'us-eats-1' is not an AWS region code (did you mean us-east-1?)",
        ),
        (
            "policy:\n  rpo_seconds: 60\n  rto_seconds: 900",
            "policy: 5",
            "4:9",
            "policy",
            "expected a mapping (indented 'key: value' lines), got 5 (an integer)",
        ),
        (
            "role_arn: arn:aws:iam::012345678901:role/failover",
            "role_arn: failover",
            "11:15",
            "regions.us-west-2.role_arn",
            "expected an IAM role ARN, like arn:aws:iam::012345678901:role/NAME, "
            "got 'failover' (a string)",
        ),
        (
            "profile: shop-east",
            "profile: [a]",
            "9:14",
            "regions.us-east-1.profile",
            "expected a string, got a list",
        ),
        (
            "profile: shop-east",
            "dynamodb_tables: orders",
            "9:22",
            "regions.us-east-1.dynamodb_tables",
            "expected a list ('- item' lines or [a, b]), got 'orders' (a string)",
        ),
        (
            "profile: shop-east",
            "aurora: {cluster: c, role: primary, mode: replica}",
            "9:32",
            "regions.us-east-1.aurora.role",
            "expected 'writer' or 'secondary', got 'primary' (a string)",
        ),
        (
            "profile: shop-east",
            "s3_buckets: [{name: b, rtc: 'yes'}]",
            "9:33",
            "regions.us-east-1.s3_buckets.0.rtc",
            "expected true or false, got 'yes' (a string)",
        ),
    ],
)
def test_pydantic_failure_kinds(
    tmp_path: Path, old: str, new: str, where: str, path: str, message: str
) -> None:
    assert problems(tmp_path, edit(MINIMAL, old, new)) == [f"F:{where}: {path}: {message}"]


def test_missing_required_keys_point_at_their_mapping(tmp_path: Path) -> None:
    text = edit(MINIMAL, 'account_id: "012345678901"\n', "")
    text = edit(text, "  rto_seconds: 900\n", "")
    assert problems(tmp_path, text) == [
        "F:1:1: account_id: missing required key 'account_id'",
        "F:3:1: policy.rto_seconds: missing required key 'rto_seconds'",
    ]


def test_one_region_is_not_enough(tmp_path: Path) -> None:
    text = MINIMAL.split("  us-west-2:")[0]
    assert problems(tmp_path, text) == ["F:8:3: regions: needs at least 2 regions, got 1"]


def test_an_unknown_region_key_points_at_the_key(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  us-west-2:", "  us-west-9:")
    assert problems(tmp_path, text) == [
        "F:10:3: regions.us-west-9: 'us-west-9' is not an AWS region code (did you mean us-west-2?)"
    ]


def test_region_key_that_is_not_a_region_shape(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  us-west-2:", "  oregon:")
    assert problems(tmp_path, text) == [
        "F:10:3: regions.oregon: 'oregon' is not an AWS region code (for example us-east-1)"
    ]


@pytest.mark.parametrize(
    ("aurora", "message"),
    [
        ("{cluster: c, role: writer}", "mode: global needs 'global_cluster'"),
        (
            "{cluster: c, role: writer, mode: replica, global_cluster: g}",
            "'global_cluster' is only for mode: global",
        ),
    ],
)
def test_aurora_mode_rules(tmp_path: Path, aurora: str, message: str) -> None:
    text = edit(MINIMAL, "profile: shop-east", f"aurora: {aurora}")
    assert problems(tmp_path, text) == [f"F:9:13: regions.us-east-1.aurora: {message}"]


RECORD = "{zone: z., name: api.z., set_identifier: e, value: e.z, routing_policy: %s}"


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("failover", "a failover record needs 'failover: PRIMARY' or 'SECONDARY'"),
        ("weighted", "a weighted record needs 'weight'"),
        ("latency, failover: PRIMARY", "'failover' is only for routing_policy: failover"),
        ("latency, weight: 1", "'weight' is only for routing_policy: weighted"),
    ],
)
def test_record_routing_policy_rules(tmp_path: Path, policy: str, message: str) -> None:
    text = edit(
        MINIMAL,
        "profile: shop-east",
        "traffic:\n      drain_lever: weight\n      records:\n        - " + RECORD % policy,
    )
    assert f"F:12:11: regions.us-east-1.traffic.records.0: {message}" in problems(tmp_path, text)


# --- cross-field checks ----------------------------------------------------------------------


def region_block(code: str, body: str) -> str:
    return f"  {code}:\n" + textwrap.indent(textwrap.dedent(body), "    ")


def two_regions(east: str, west: str, primary: str = "us-east-1") -> str:
    head = edit(
        MINIMAL.split("regions:")[0], "primary_region: us-east-1", f"primary_region: {primary}"
    )
    return head + "regions:\n" + region_block("us-east-1", east) + region_block("us-west-2", west)


GLOBAL_W = "aurora: {cluster: c1, role: writer, global_cluster: g}\n"
GLOBAL_S = "aurora: {cluster: c2, role: secondary, global_cluster: g}\n"


def test_cross_primary_region_not_declared(tmp_path: Path) -> None:
    text = two_regions("profile: a\n", "profile: b\n", primary="eu-west-1")
    assert problems(tmp_path, text) == [
        "F:3:17: primary_region: 'eu-west-1' is not one of the declared regions"
    ]


def test_cross_two_writers(tmp_path: Path) -> None:
    text = two_regions(GLOBAL_W, GLOBAL_S.replace("secondary", "writer"))
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'writer', 2)}: regions.us-west-2.aurora.role: "
        "two regions claim to be the writer (us-east-1 and us-west-2)"
    ]


def test_cross_no_writer(tmp_path: Path) -> None:
    text = two_regions(GLOBAL_S.replace("c2", "c1"), GLOBAL_S)
    assert problems(tmp_path, text) == ["F:8:3: regions: no region has aurora role: writer"]


def test_cross_mixed_aurora_modes(tmp_path: Path) -> None:
    text = two_regions(GLOBAL_W, "aurora: {cluster: c2, role: secondary, mode: replica}\n")
    assert problems(tmp_path, text) == [
        "F:8:3: regions: aurora mode must be the same in every region (global or replica)",
        "F:8:3: regions: regions name different global clusters: ['None', 'g']",
    ]


def test_cross_different_global_clusters(tmp_path: Path) -> None:
    text = two_regions(GLOBAL_W, GLOBAL_S.replace("global_cluster: g", "global_cluster: h"))
    assert problems(tmp_path, text) == [
        "F:8:3: regions: regions name different global clusters: ['g', 'h']"
    ]


def test_cross_duplicate_cluster(tmp_path: Path) -> None:
    text = two_regions(GLOBAL_W, GLOBAL_S.replace("c2", "c1"))
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'c1', 2)}: regions.us-west-2.aurora.cluster: "
        "duplicate cluster 'c1' (also in us-east-1)"
    ]


HC = "traffic:\n  health_checks: [{name: %s}]\n  records: [%s]\n"
REC = "{zone: z., name: api.z., set_identifier: %s, routing_policy: latency, value: v%s}"


def test_cross_duplicate_health_check_name(tmp_path: Path) -> None:
    text = two_regions(HC % ("hc", ""), HC % ("hc", ""))
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'hc', 2)}: regions.us-west-2.traffic.health_checks.0.name: "
        "duplicate health check name 'hc' (also in us-east-1)"
    ]


def test_cross_record_names_a_health_check_of_another_region(tmp_path: Path) -> None:
    east = HC % ("hc-east", REC % ("e", ", health_check: hc-east"))
    west = HC % ("hc-west", REC % ("w", ", health_check: hc-east"))
    text = two_regions(east, west)
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'hc-east', 3)}: regions.us-west-2.traffic.records.0.health_check: "
        "'hc-east' is not a health check of us-west-2"
    ]


def test_cross_duplicate_record(tmp_path: Path) -> None:
    east = HC % ("hc-east", REC % ("e", "1") + ", " + REC % ("e", "2"))
    text = two_regions(east, "profile: b\n")
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'set_identifier: e', 2).split(':')[0]}:"
        f"{int(at(text, 'set_identifier: e', 2).split(':')[1]) + 16}: "
        "regions.us-east-1.traffic.records.1.set_identifier: duplicate record api.z. / e"
    ]


def test_cross_duplicate_set_identifier_across_regions(tmp_path: Path) -> None:
    # Route 53 keeps one record per name, type and set identifier: two regions declaring
    # the same one describe one record, which can route to only one of them.
    text = two_regions(HC % ("hc-east", REC % ("same", "1")), HC % ("hc-west", REC % ("same", "2")))
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'set_identifier: same', 2).split(':')[0]}:"
        f"{int(at(text, 'set_identifier: same', 2).split(':')[1]) + 16}: "
        "regions.us-west-2.traffic.records.0.set_identifier: duplicate record api.z. / same "
        "(also in us-east-1)"
    ]


def test_cross_weight_lever_needs_a_weighted_record(tmp_path: Path) -> None:
    east = "traffic:\n  drain_lever: weight\n  health_checks: [{name: h}]\n  records: [%s]\n" % (
        REC % ("e", "")
    )
    text = two_regions(east, "profile: b\n")
    assert problems(tmp_path, text) == [
        "F:10:20: regions.us-east-1.traffic.drain_lever: "
        "drain_lever: weight needs at least one weighted record"
    ]


def test_cross_inversion_lever_needs_a_health_check(tmp_path: Path) -> None:
    east = "traffic:\n  records: [%s]\n" % (REC % ("e", ""))
    text = two_regions(east, "profile: b\n")
    assert problems(tmp_path, text) == [
        "F:10:7: regions.us-east-1.traffic.drain_lever: "
        "drain_lever: health_check_inversion needs a health check"
    ]


def test_cross_duplicate_table_in_a_region(tmp_path: Path) -> None:
    text = two_regions("dynamodb_tables: [t, t]\n", "dynamodb_tables: [t]\n")
    assert problems(tmp_path, text) == [
        "F:9:26: regions.us-east-1.dynamodb_tables.1: duplicate table 't'"
    ]


def test_cross_global_table_without_a_replica(tmp_path: Path) -> None:
    text = two_regions("dynamodb_tables: [t, u]\n", "dynamodb_tables: [t]\n")
    assert problems(tmp_path, text) == [
        "F:9:26: regions.us-east-1.dynamodb_tables.1: "
        "global table 'u' has no replica in another declared region"
    ]


BUCKET = "s3_buckets: [{name: %s, replicate_to: [{bucket: %s, region: %s}]}]\n"


def test_cross_duplicate_bucket(tmp_path: Path) -> None:
    text = two_regions("s3_buckets: [{name: b}]\n", "s3_buckets: [{name: b}]\n")
    assert problems(tmp_path, text) == [
        "F:11:25: regions.us-west-2.s3_buckets.0.name: duplicate bucket 'b' (also in us-east-1)"
    ]


def test_cross_replication_to_an_undeclared_region(tmp_path: Path) -> None:
    text = two_regions(BUCKET % ("b1", "b2", "eu-west-1"), "s3_buckets: [{name: b2}]\n")
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'eu-west-1')}: regions.us-east-1.s3_buckets.0.replicate_to.0.region: "
        "eu-west-1 is not a declared region"
    ]


def test_cross_replication_to_an_undeclared_bucket(tmp_path: Path) -> None:
    text = two_regions(BUCKET % ("b1", "nope", "us-west-2"), "s3_buckets: [{name: b2}]\n")
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'nope')}: regions.us-east-1.s3_buckets.0.replicate_to.0.bucket: "
        "bucket 'nope' is not declared in us-west-2"
    ]


def test_cross_replication_to_its_own_region(tmp_path: Path) -> None:
    text = two_regions(
        "s3_buckets: [{name: b0}, {name: b1, replicate_to: [{bucket: b0, region: us-east-1}]}]\n",
        "profile: b\n",
    )
    assert problems(tmp_path, text) == [
        f"F:{at(text, 'us-east-1', 3)}: regions.us-east-1.s3_buckets.1.replicate_to.0.region: "
        "cross-region replication needs another region"
    ]


# --- all at once ------------------------------------------------------------------------------


QUOTED = '"12345"'


def test_shape_and_cross_problems_are_reported_together(tmp_path: Path) -> None:
    text = edit(
        EXAMPLE,
        "cluster: arc309-usw2\n      role: secondary",
        "cluster: arc309-usw2\n      role: writer",
    )
    text = edit(text, "rpo_seconds: 60", "rpo_seconds: sixty")
    text = edit(text, 'account_id: "123456789012"', 'account_id: "12345"')
    text = edit(text, "  rto_seconds: 900", "  rto_secs: 900")
    assert problems(tmp_path, text) == [
        f"F:{at(text, QUOTED)}: account_id: expected a 12-digit account id in quotes, "
        "like \"012345678901\", got '12345' (a string)",
        f"F:{at(text, 'policy:')}: policy.rto_seconds: missing required key 'rto_seconds'",
        f"F:{at(text, 'sixty')}: policy.rpo_seconds: "
        "expected a whole number, got 'sixty' (a string)",
        f"F:{at(text, 'rto_secs')}: policy.rto_secs: "
        "unknown key 'rto_secs' (did you mean 'rto_seconds'?)",
        f"F:{at(text, 'writer', 2)}: regions.us-west-2.aurora.role: "
        "two regions claim to be the writer (us-east-1 and us-west-2)",
    ]


def test_a_broken_region_causes_no_false_cross_errors(tmp_path: Path) -> None:
    # us-west-2 fails shape validation; the bucket replicating to it must not be
    # reported as "not declared", nor the global tables as "without a replica".
    text = edit(EXAMPLE, "cluster: arc309-usw2", "cluster: [x]")
    assert problems(tmp_path, text) == [
        f"F:{at(text, '[x]')}: regions.us-west-2.aurora.cluster: expected a string, got a list"
    ]


def test_yaml_and_shape_problems_are_reported_together(tmp_path: Path) -> None:
    text = edit(MINIMAL, "application: shop\n", "application: shop\napplication: x\n")
    text = edit(text, "rpo_seconds: 60", "rpo_seconds: !!int x")
    text = edit(text, "rto_seconds: 900", "rto_seconds: -5")
    assert problems(tmp_path, text) == [
        "F:2:1: application: duplicate key 'application' (first at line 1)",
        "F:6:16: policy.rpo_seconds: cannot read 'x': invalid literal for int() with base 10: 'x'",
        "F:7:16: policy.rto_seconds: must be more than 0, got -5 (an integer)",
    ]


def test_the_error_header_counts_the_problems(tmp_path: Path) -> None:
    path = write(tmp_path, edit(MINIMAL, "rpo_seconds: 60", "rpo_seconds: x"))
    with pytest.raises(ConfigError) as info:
        topology.load(path)
    assert str(info.value).splitlines() == [
        f"{path}: 1 problem",
        f"  {path}:5:16: policy.rpo_seconds: expected a whole number, got 'x' (a string)",
    ]


def test_huge_values_are_clipped_in_messages(tmp_path: Path) -> None:
    text = edit(MINIMAL, "rpo_seconds: 60", "rpo_seconds: " + "9x" * 5000)
    [line] = problems(tmp_path, text)
    assert line == (
        "F:5:16: policy.rpo_seconds: expected a whole number, "
        f"got '{('9x' * 20)[:39]}... (10002 characters) (a string)"
    )


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [EXAMPLE, MINIMAL, ten_regions()], ids=["example", "minimal", "ten"]
)
def test_dump_reloads_to_an_equal_topology(tmp_path: Path, text: str) -> None:
    original = topology.load(write(tmp_path, text, "a.yaml"))
    again = topology.load(write(tmp_path, topology.dump(original), "b.yaml"))
    assert again == original
    assert isinstance(again, Topology)


@pytest.mark.parametrize(
    ("key", "shown"),
    [("'a.b'", "'a.b'"), ("'two words'", "'two words'"), ('"\\r"', "'\\r'"), ("''", "''")],
)
def test_odd_keys_are_quoted_in_the_path(tmp_path: Path, key: str, shown: str) -> None:
    text = edit(MINIMAL, "  rto_seconds: 900", f"  rto_seconds: 900\n  {key}: 1")
    [line] = problems(tmp_path, text)
    assert line.startswith(f"F:7:3: policy.{shown}: unknown key ")
    assert "\r" not in line
