//! The Kubernetes manifests in deploy/k8s parse, and say what the docs say:
//! an Indexed Job of N parallel workers, each writing its own result to the
//! shared volume, and a merge Job that reads them all.

use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

fn manifest(name: &str) -> Yaml {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().expect("a list").iter().map(|v| v.as_str().expect("a string").to_string()).collect()
}

/// The `--name=value` or `--name value` of an argument list.
fn flag(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&prefix).map(str::to_string).or_else(|| (a == name).then(|| args[i + 1].clone()))
    })
}

#[test]
fn loadgen_job_is_indexed_and_writes_one_result_per_worker() {
    let job = manifest("loadgen-job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let n = spec["completions"].as_i64().expect("completions");
    assert!(n >= 2, "several workers");
    assert_eq!(spec["parallelism"].as_i64(), Some(n), "all workers run at the same time");

    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"), "a retried worker would skew the window");
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args[0], "run");
    let json = flag(&args, "--json").expect("--json");
    assert!(json.starts_with("/results/") && json.contains("$(JOB_COMPLETION_INDEX)"), "{json}");
    assert!(flag(&args, "--duration").is_some() && flag(&args, "--connections").is_some());
    assert!(args.iter().any(|a| a == "--quiet"), "no live view in a pod");

    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/results"));
    let volume = &pod["volumes"][0];
    assert_eq!(volume["name"].as_str(), mount["name"].as_str());
    assert_eq!(volume["persistentVolumeClaim"]["claimName"].as_str(), Some("wsbench-results"));
}

#[test]
fn the_merge_job_reads_every_worker_result_from_the_same_volume() {
    let job = manifest("merge-job.yaml");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let pod = &job["spec"]["template"]["spec"];
    let script = strings(&pod["containers"][0]["args"]).join(" ");
    assert!(script.contains("wsbench-loadgen merge /results/worker-*.json -o /results/merged.json"), "{script}");
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(), Some("wsbench-results"));

    let pvc = manifest("results-pvc.yaml");
    assert_eq!(pvc["kind"].as_str(), Some("PersistentVolumeClaim"));
    assert_eq!(pvc["metadata"]["name"].as_str(), Some("wsbench-results"));
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"], "every worker mounts it at once");
}
