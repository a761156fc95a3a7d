"""Just enough CloudFormation to let the local runner follow ``template.yaml`` instead of a second list.

Reads the YAML short-form tags, evaluates conditions, and resolves ``Ref``/``GetAtt``/``Sub``/``If``/
``Join``/``Select``/``Split`` against parameter values and the physical ids the runner created.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()


class _Loader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_Loader)


class Resolver:
    """Evaluates intrinsic functions given parameters and a way to name created resources."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str],
                 physical: Callable[[str, str | None], Any], pseudo: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
        } | dict(parameters)
        self._physical = physical
        self._pseudo = dict(pseudo)
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def enabled(self, resource: Mapping[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._physical(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._physical(name, None)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return str(self._physical(logical, attribute))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def s3_lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One resolved ``AWS::S3::Bucket`` lifecycle rule in the shape of S3's PutBucketLifecycleConfiguration
    (what CloudFormation sends): ``Prefix`` becomes a filter, ``ExpirationInDays`` an ``Expiration``."""
    converted: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"],
                                 "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "Transitions" in rule:
        converted["Transitions"] = [{"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
                                    for t in rule["Transitions"]]
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return converted


def process_variables(template: Mapping[str, Any], logical_id: str) -> dict[str, str]:
    """The environment variables of function ``logical_id`` (Globals first) that its *process* reads when it
    starts, not picr or Powertools: glibc's malloc tunables, OpenBLAS's threads. They only take effect in a
    process started with them, so a benchmark that stands in for the function must start under them too."""
    def literal(variables: Mapping[str, Any]) -> dict[str, str]:
        return {name: str(value) for name, value in variables.items()
                if isinstance(value, str | int) and not name.startswith(("PICR_", "POWERTOOLS_"))}

    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    found = literal(shared) | literal(own)
    found.pop("U2NET_HOME", None)   # where the image keeps the model: each runner has its own
    return found
