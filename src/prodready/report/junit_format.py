"""``--format junit``: JUnit XML, one test suite per rule that fired, one failing test case
per finding; files that could not be analysed are test cases with an ``error``.

CI systems (GitLab, Jenkins, Azure) show these as failed tests with the location and message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import groupby

from prodready.model import Finding, ScanResult
from prodready.report.concise_format import display_path

# Characters XML 1.0 cannot carry at all, even escaped (C0 controls but tab/newline/CR...).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render(result: ScanResult, *, color: bool = False) -> str:
    suites = ET.Element(
        "testsuites",
        name="prodready",
        tests=str(len(result.findings) + len(result.errors)),
        failures=str(len(result.findings)),
        errors=str(len(result.errors)),
    )
    ordered = sorted(result.findings, key=lambda f: (f.rule, *Finding.sort_key(f)))
    for code, group in groupby(ordered, key=lambda f: f.rule):
        findings = list(group)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=_clean(f"{code} {findings[0].name}"),
            tests=str(len(findings)),
            failures=str(len(findings)),
            errors="0",
        )
        for finding in findings:
            where = f"{display_path(result.root, finding.path)}:{finding.line}:{finding.column}"
            case = ET.SubElement(
                suite,
                "testcase",
                name=_clean(where),
                classname=_clean(f"prodready.{code}"),
                file=_clean(display_path(result.root, finding.path)),
                line=str(finding.line),
            )
            failure = ET.SubElement(
                case,
                "failure",
                message=_clean(finding.message),
                type=finding.severity.value,
            )
            body = f"{where}: {code} [{finding.severity.value}] {finding.message}"
            if finding.fix:
                body += f"\nFix: {finding.fix}"
            failure.text = _clean(body)
    if result.errors:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name="analysis errors",
            tests=str(len(result.errors)),
            failures="0",
            errors=str(len(result.errors)),
        )
        for error in result.errors:
            path = display_path(result.root, error.path)
            where = f"{path}:{error.line}" if error.line else path
            case = ET.SubElement(
                suite, "testcase", name=_clean(where), classname="prodready.analysis", file=path
            )
            ET.SubElement(case, "error", message=_clean(error.message)).text = _clean(
                f"{where}: {error.message}"
            )
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
