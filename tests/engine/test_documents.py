"""The document parsers behind the Dockerfile, Kubernetes and dependency-manifest rules."""

from __future__ import annotations

import pytest

from prodready.engine.documents import (
    DocumentError,
    looks_like_kubernetes,
    parse_dockerfile,
    parse_requirements,
    parse_yaml,
)

# -- Dockerfile -------------------------------------------------------------------------------


def test_continuation_survives_blank_and_comment_lines() -> None:
    document = parse_dockerfile(
        "FROM python:3.12-slim\n"
        "RUN apt-get update && \\\n"
        "\n"
        "    # a comment inside the continuation\n"
        "    apt-get install -y curl\n"
        'CMD ["python"]\n'
    )
    keywords = [instruction.keyword for instruction in document.instructions]
    assert keywords == ["FROM", "RUN", "CMD"]
    run = document.instructions[1]
    assert run.value == "apt-get update && apt-get install -y curl"
    assert (run.line, run.end_line) == (2, 5)


def test_escape_on_the_last_line_is_dropped() -> None:
    run = parse_dockerfile("FROM scratch\nRUN echo hi \\").instructions[1]
    assert run.value == "echo hi"


def test_escape_directive_only_at_the_top() -> None:
    document = parse_dockerfile("# escape=`\nFROM windows\nRUN dir `\n    c:\\\n")
    assert document.instructions[1].value == "dir c:\\"
    late = parse_dockerfile("FROM python:3.12\n# escape=`\nRUN echo a `\nRUN echo b\n")
    assert [i.value for i in late.instructions[1:]] == ["echo a `", "echo b"]


def test_keyword_separated_by_a_tab() -> None:
    run = parse_dockerfile("FROM python:3.12\nRUN\tpip install x\n").instructions[1]
    assert (run.keyword, run.value) == ("RUN", "pip install x")


def test_repeated_flags_are_all_kept() -> None:
    run = parse_dockerfile(
        "FROM python:3.12\n"
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=tok \\\n"
        "    pip install -r requirements.txt\n"
    ).instructions[1]
    assert run.value == "pip install -r requirements.txt"
    assert run.flags == {"mount": "type=secret,id=tok"}  # the last value, as before
    assert run.flag_values("mount") == ["type=cache,target=/root/.cache/pip", "type=secret,id=tok"]
    assert run.flag_list[0] == ("mount", "type=cache,target=/root/.cache/pip")


def test_from_with_platform_flag_and_alias() -> None:
    document = parse_dockerfile("FROM --platform=$BUILDPLATFORM python:3.12 AS build\n")
    stage = document.stages[0]
    assert (stage.image, stage.alias) == ("python:3.12", "build")
    assert document.instructions[0].flags == {"platform": "$BUILDPLATFORM"}


def test_heredocs() -> None:
    text = (
        "FROM python:3.12\n"  # 1
        "RUN <<EOT bash\n"  # 2
        "set -eux\n"  # 3
        "pip install x\n"  # 4
        "EOT\n"  # 5
        "COPY <<-'EOF' /app/config.toml\n"  # 6
        "\t[server]\n"  # 7
        "\tEOF\n"  # 8
        "RUN <<A cat > /a && <<B cat > /b\n"  # 9
        "one\n"  # 10
        "A\n"  # 11
        "two\n"  # 12
        "B\n"  # 13
        "USER app\n"  # 14
    )
    instructions = parse_dockerfile(text).instructions
    assert [i.keyword for i in instructions] == ["FROM", "RUN", "COPY", "RUN", "USER"]
    run, copy, both, user = instructions[1:]
    assert (run.line, run.end_line) == (2, 5)
    assert run.value == "<<EOT bash\nset -eux\npip install x"
    assert (copy.line, copy.end_line) == (6, 8)
    assert (both.line, both.end_line) == (9, 13)
    assert "one" in both.value and "two" in both.value
    assert user.line == 14


def test_shift_operators_and_other_keywords_are_not_heredocs() -> None:
    text = (
        'FROM python:3.12\nRUN python -c "print(1<<x)"\nENV A=1 <<B\nRUN cat <<< "$X"\n'
        'CMD ["python"]\n'
    )
    instructions = parse_dockerfile(text).instructions
    assert [i.keyword for i in instructions] == ["FROM", "RUN", "ENV", "RUN", "CMD"]
    assert all(i.line == i.end_line for i in instructions)


def test_unterminated_heredoc_ends_at_the_end_of_the_file() -> None:
    run = parse_dockerfile("FROM python:3.12\nRUN <<EOT\necho hi\n").instructions[1]
    assert (run.line, run.end_line) == (2, 3)


# -- YAML -------------------------------------------------------------------------------------


def _laughs(levels: int, *, as_key: bool) -> str:
    """A "billion laughs" document: each level lists the previous one ten times."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    last = f"*a{levels - 1}"
    lines.append(f"? {last}\n: boom" if as_key else f"top: {last}")
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_shared_below_the_cap() -> None:
    document = parse_yaml(_laughs(4, as_key=False)).documents[0]  # a3: 10**4 nodes expanded
    assert document.data["a1"][9] == ["x"] * 10
    assert document.data["a3"][0] is document.data["a2"]  # shared, as PyYAML's constructor does
    assert document.data["top"] is document.data["a3"]


@pytest.mark.parametrize("as_key", [False, True], ids=["value", "key"])
def test_alias_bomb_is_a_document_error(as_key: bool) -> None:
    """Issue 10 #7: an alias key to a nested list used to be expanded in full by str()."""
    with pytest.raises(DocumentError) as caught:
        parse_yaml(_laughs(10, as_key=as_key))
    assert str(caught.value) == "YAML alias expansion exceeds 100000 nodes"
    assert caught.value.line == 7  # a4 repeats a3 past the cap


def test_non_scalar_keys_are_skipped() -> None:
    document = parse_yaml("a: &a [1, 2]\n? *a\n: one\n? {k: v}\n: two\nb: 3\n").documents[0]
    assert document.data == {"a": [1, 2], "b": 3}
    assert document.line_of("b") == 6


def test_recursive_alias_is_a_document_error() -> None:
    with pytest.raises(DocumentError):
        parse_yaml("a: &a\n  b: *a\n")


def test_merge_keys_are_resolved() -> None:
    document = parse_yaml(
        "x-defaults: &defaults\n"  # 1
        "  restart: always\n"  # 2
        "  image: app:1.0\n"  # 3
        "services:\n"  # 4
        "  web:\n"  # 5
        "    <<: *defaults\n"  # 6
        "    image: app:2.0\n"  # 7
        "  worker:\n"  # 8
        "    <<: [*defaults, {user: app}]\n"  # 9
    ).documents[0]
    web = document.data["services"]["web"]
    assert web == {"image": "app:2.0", "restart": "always"}
    assert "<<" not in web
    assert document.line_of("services", "web", "image") == 7
    assert document.line_of("services", "web", "restart") == 6
    worker = document.data["services"]["worker"]
    assert worker == {"restart": "always", "image": "app:1.0", "user": "app"}


def test_line_mapping_of_keys_and_items() -> None:
    document = parse_yaml(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  containers:\n    - name: a\n"
        "      image: x:1\n    - name: b\n"
    ).documents[0]
    assert document.line_of("spec", "containers", 1) == 7
    assert document.line_of("spec", "containers", 0, "image") == 6
    assert document.line_of("spec", "containers", 0, "missing") == 5


def test_helm_rendered_output_keeps_objects_and_lines() -> None:
    manifests = parse_yaml(
        "---\n"  # 1
        "# Source: shop/templates/serviceaccount.yaml\n"  # 2
        "---\n"  # 3
        "# Source: shop/templates/deployment.yaml\n"  # 4
        "apiVersion: apps/v1\n"  # 5
        "kind: Deployment\n"  # 6
        "metadata: {name: shop}\n"  # 7
        "spec:\n"  # 8
        "  template:\n"  # 9
        "    spec:\n"  # 10
        "      containers:\n"  # 11
        "        - name: web\n"  # 12
        "          image: shop:1.0\n"  # 13
        "---\n"  # 14
        "null\n"  # 15
        "---\n"  # 16
        "~\n"  # 17
        "---\n"  # 18
        "- just a list\n"  # 19
        "---\n"  # 20
        "apiVersion: v1\n"  # 21
        "kind: Service\n"  # 22
        "metadata: {name: shop}\n"  # 23
    )
    assert [(obj.kind, obj.name) for obj in manifests.objects] == [
        ("Deployment", "shop"),
        ("Service", "shop"),
    ]
    deployment = manifests.objects[0]
    [(container, path)] = list(deployment.containers())
    assert container["name"] == "web"
    assert deployment.line_of(*path) == 12
    assert deployment.line_of(*path, "image") == 13


def test_list_items_are_objects_with_their_own_lines() -> None:
    manifests = parse_yaml(
        "apiVersion: v1\n"  # 1
        "kind: List\n"  # 2
        "items:\n"  # 3
        "  - apiVersion: apps/v1\n"  # 4
        "    kind: Deployment\n"  # 5
        "    metadata: {name: api}\n"  # 6
        "    spec:\n"  # 7
        "      template:\n"  # 8
        "        spec:\n"  # 9
        "          containers:\n"  # 10
        "            - name: api\n"  # 11
        "              image: api:1.0\n"  # 12
        "  - 42\n"  # 13
        "  - {kind: NoApiVersion}\n"  # 14
        "  - apiVersion: v1\n"  # 15
        "    kind: Service\n"  # 16
        "    metadata: {name: api}\n"  # 17
        "metadata: {resourceVersion: ''}\n"  # 18
    )
    objects = manifests.objects
    assert [(obj.kind, obj.name) for obj in objects] == [
        ("Deployment", "api"),
        ("NoApiVersion", ""),  # the List's apiVersion fills in
        ("Service", "api"),
    ]
    api = objects[0]
    assert api.document.line == 4
    [(_, path)] = list(api.containers())
    assert api.line_of(*path, "image") == 12
    assert api.line_of("spec", "missing") == 7
    assert objects[2].line_of("metadata") == 17
    assert manifests.objects is objects  # computed once


def test_typed_list_items_take_the_kind_of_the_list() -> None:
    manifests = parse_yaml(
        "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n  - metadata: {name: a}\nitems2: []\n"
    )
    assert [(obj.kind, obj.name) for obj in manifests.objects] == [("Deployment", "a")]
    odd = parse_yaml("apiVersion: v1\nkind: List\nitems: {not: a list}\n")
    assert [obj.kind for obj in odd.objects] == ["List"]


def test_helm_templates_are_not_manifests_but_rendered_output_is() -> None:
    template = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        '  name: {{ include "shop.fullname" . }}\n'
    )
    assert not looks_like_kubernetes(template)
    control = "apiVersion: v1\nkind: ConfigMap\n{{- if .Capabilities }}\ndata: {}\n{{- end }}\n"
    assert not looks_like_kubernetes(control)
    bare = 'apiVersion: v1\nkind: ConfigMap\ndata:\n  name: {{ template "x" . }}\n'
    assert not looks_like_kubernetes(bare)
    rendered = (
        "# Source: shop/templates/rules.yaml\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "spec:\n"
        "  groups:\n"
        "    - rules:\n"
        "        - alert: Down\n"
        "          annotations:\n"
        '            summary: "{{ $labels.instance }} is down"\n'
        "            description: Pod {{ $labels.pod }} restarts\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "data:\n"
        "  slack.tmpl: |\n"
        '    {{ define "slack.title" }}\n'
        "    {{ range .Alerts }}{{ .Labels.alertname }}{{ end }}\n"
        "    {{ end }}\n"
        "  other: value\n"
    )
    assert looks_like_kubernetes(rendered)
    assert not looks_like_kubernetes(rendered + "  broken: {{ .Values.x }}\n")
    grafana = (  # a Grafana legend inside a larger string is not a template
        'apiVersion: v1\nkind: ConfigMap\ndata:\n  d.json: "{\\"legendFormat\\": \\"{{pod}}\\"}"\n'
    )
    assert looks_like_kubernetes(grafana)
    jinja = 'apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: "{{ replicas | int }}"\n'
    assert not looks_like_kubernetes(jinja)
    assert not looks_like_kubernetes("apiVersion: v1\nkind: Pod\n{% if debug %}\nspec: {}\n")


# -- requirements -----------------------------------------------------------------------------


def test_per_requirement_options_do_not_break_the_requirement() -> None:
    lines = parse_requirements(
        'numpy==1.26.4 --config-settings=setup-args="-Dblas=none" \\\n'
        "    --hash=sha256:aaa \\\n"
        "    --hash=sha256:bbb\n"
        "legacy==1.0 --global-option=--no-ext\n"
    ).lines
    numpy, legacy = lines
    assert (numpy.name, numpy.specifier, numpy.error) == ("numpy", "==1.26.4", None)
    assert numpy.hashes == ("sha256:aaa", "sha256:bbb")
    assert numpy.pinned
    assert (legacy.name, legacy.error) == ("legacy", None)


def test_option_forms() -> None:
    lines = parse_requirements(
        "-rbase.txt\n-r base.txt\n--index-url=https://pypi.org/simple\n"
        "--extra-index-url https://x.example/simple\n--pre\n-e git+https://h/r.git#egg=r\n"
    ).lines
    assert [(line.option, line.option_value) for line in lines] == [
        ("-r", "base.txt"),
        ("-r", "base.txt"),
        ("--index-url", "https://pypi.org/simple"),
        ("--extra-index-url", "https://x.example/simple"),
        ("--pre", None),
        ("-e", "git+https://h/r.git#egg=r"),
    ]
    assert lines[-1].url == "git+https://h/r.git#egg=r"


def test_requirement_lines_keep_markers_urls_and_errors() -> None:
    lines = parse_requirements(
        'uvloop==0.19.0 ; sys_platform != "win32"  # comment\n'
        "sdk @ git+https://github.com/acme/sdk.git@main\n"
        "./libs/shared\n"
        "requests = 2.0\n"
    ).lines
    assert lines[0].marker == 'sys_platform != "win32"' and lines[0].pinned
    assert lines[1].name == "sdk" and lines[1].url == "git+https://github.com/acme/sdk.git@main"
    assert lines[2].url == "./libs/shared" and lines[2].name is None
    assert lines[3].error is not None and lines[3].line == 4


# -- rule registration ------------------------------------------------------------------------


def test_kubernetes_rules_are_registered() -> None:
    from prodready.catalog import default_registry

    codes = set(default_registry(plugins=False).rules)
    assert {"K8S001", "K8S002", "K8S003", "K8S004", "K8S005", "K8S006"} <= codes, (
        "the Kubernetes rules are not registered: prodready.model.RULE_CODE rejects a digit in "
        "the code prefix (K8S001); accept it with r'^[A-Z][A-Z0-9]{0,3}[A-Z][0-9]{3}$' (and "
        "registry.CODE_PREFIX with r'^[A-Za-z][A-Za-z0-9]{0,3}[A-Za-z][0-9]{0,3}$' so that "
        "--select K8S works)"
    )
