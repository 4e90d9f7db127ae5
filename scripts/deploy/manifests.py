#!/usr/bin/env python3
"""Helpers for scripts/deploy/check-manifests.sh, on manifests rendered by kustomize.

  manifests.py env HELP_TEXT FILE...   fail if a manifest sets a candlelit variable that the
      binary does not read. HELP_TEXT is `candlelit serve --help` + `models fetch --help`, which
      list each flag's `[env: NAME=...]`. Only names candlelit could read are judged
      (CANDLELIT_*, LEPTOS_*, HOST, PORT); HOME and pip's are for the init container's clients.
  manifests.py same-pod BASE KSERVE    fail unless the KServe predictor's pod spec is the base
      Deployment's (its container renamed kserve-container): the overlay copies it field by
      field, and a field added to the Deployment alone would silently not reach KServe.
  manifests.py kserve-pods FILE OUT    write each KServe InferenceService predictor of FILE as
      the Pod it becomes, into OUT, so checkov (which does not know KServe's resource) checks
      the pod KServe will run. KServe-only fields are dropped; annotations are kept, so the
      checkov skips stated on the InferenceService apply to its pod.
"""
import re
import sys

import yaml

# Fields of a KServe predictor that are not Pod fields (serving.kserve.io/v1beta1).
KSERVE_ONLY = {
    "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations",
    "deploymentStrategy", "model", "workerSpec", "autoScaling",
}


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_specs(doc):
    spec = doc.get("spec") or {}
    if doc.get("kind") == "InferenceService":
        yield spec.get("predictor") or {}
    elif "template" in spec:
        yield spec["template"].get("spec") or {}


def check_env(help_path, paths):
    known = set(re.findall(r"\[env: ([A-Z0-9_]+)", open(help_path).read()))
    if len(known) < 10:
        sys.exit(f"manifests.py: only {len(known)} env names in {help_path}; is it the binary's help?")
    ours = re.compile(r"^(CANDLELIT_|LEPTOS_|HOST$|PORT$)")
    bad, seen = [], 0
    for path in paths:
        for doc in docs(path):
            for pod in pod_specs(doc):
                for c in pod.get("initContainers", []) + pod.get("containers", []):
                    for env in c.get("env", []):
                        if ours.match(env["name"]):
                            seen += 1
                            if env["name"] not in known:
                                bad.append(f"{path}: {doc['kind']}/{c['name']}: {env['name']}")
    if seen == 0:
        sys.exit("manifests.py: no candlelit variable in the manifests; nothing was checked")
    if bad:
        sys.exit("variables the binary does not read (`candlelit serve --help`):\n  " + "\n  ".join(bad))
    print(f"[check-deploy] {seen} candlelit variables set in the manifests, each one the binary reads")


def predictor_pod_spec(predictor):
    return {k: v for k, v in predictor.items() if k not in KSERVE_ONLY}


def same_pod(base_path, kserve_path):
    deployment = next(d for d in docs(base_path) if d["kind"] == "Deployment")
    template = deployment["spec"]["template"]
    want = yaml.safe_load(yaml.safe_dump(template["spec"]))
    for c in want["containers"]:
        if c["name"] == deployment["metadata"]["name"]:
            c["name"] = "kserve-container"
    isvc = next(d for d in docs(kserve_path) if d["kind"] == "InferenceService")
    got = predictor_pod_spec(isvc["spec"]["predictor"])
    if got != want or isvc["spec"]["predictor"].get("annotations") != template["metadata"].get("annotations"):
        import difflib
        diff = difflib.unified_diff(yaml.safe_dump(want).splitlines(), yaml.safe_dump(got).splitlines(),
                                    "Deployment pod spec", "InferenceService predictor", lineterm="")
        sys.exit("the KServe predictor's pod spec differs from the base Deployment's; add the field "
                 "to deploy/overlays/kserve/pod-spec/kustomization.yaml:\n" + "\n".join(diff))
    print("[check-deploy] the KServe predictor runs the base Deployment's pod spec")


def kserve_pods(path, out):
    pods = []
    for doc in docs(path):
        if doc.get("kind") != "InferenceService":
            continue
        meta, predictor = doc["metadata"], doc["spec"]["predictor"]
        pods.append({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-predictor",
                "namespace": meta.get("namespace"),
                "labels": predictor.get("labels", {}),
                "annotations": {**predictor.get("annotations", {}), **meta.get("annotations", {})},
            },
            "spec": predictor_pod_spec(predictor),
        })
    with open(out, "w") as f:
        yaml.safe_dump_all(pods, f, sort_keys=False)
    print(f"[check-deploy] {path}: {len(pods)} InferenceService predictor(s) written as Pods for checkov")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "env":
        check_env(args[0], args[1:])
    elif cmd == "same-pod":
        same_pod(args[0], args[1])
    elif cmd == "kserve-pods":
        kserve_pods(args[0], args[1])
    else:
        sys.exit(__doc__)
