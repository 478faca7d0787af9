//! The deployment files must match the contract (docs/architecture.md) and the code: each
//! service's binary, port, listen variable and value, probe paths, and only the
//! environment variables that service reads: the contract's plus the tuning knobs and
//! rotation keys its settings declare (checked against the settings source below).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_norway::Value;

struct Service {
    /// Folder under services/, package, binary, Dockerfile target, compose service,
    /// Kubernetes Deployment and container name: all the same.
    name: &'static str,
    port: u16,
    listen_env: &'static str,
    readiness_path: &'static str,
    /// Every variable the contract table lists for this service.
    env: &'static [&'static str],
    /// Variables the code reads beyond the contract (each has a default or is optional).
    extra: &'static [&'static str],
    /// Source files (under services/NAME/src) whose `Deserialize` structs are the
    /// service's settings: field name (or `rename`) = lower-case variable name.
    settings: &'static [&'static str],
    /// The ones a container must set: no default, or a default that is wrong in a container.
    required: &'static [&'static str],
}

const SERVICES: [Service; 5] = [
    Service {
        name: "checkout",
        port: 8080,
        listen_env: "CHECKOUT_LISTEN",
        readiness_path: "/readyz",
        env: &[
            "DATABASE_URL",
            "CRYPTOCLOUD_API_URL",
            "CRYPTOCLOUD_API_KEY",
            "CRYPTOCLOUD_SHOP_ID",
            "BASE_URL",
            "AUTH_JWT_SECRET",
            "ADMIN_TOKEN",
            "CHECKOUT_LISTEN",
            "LOG_FORMAT",
        ],
        extra: &[
            "AUTH_JWT_SECRET_PREVIOUS",
            "AUTH_JWT_AUDIENCE",
            "CRYPTOCLOUD_TIMEOUT_MS",
            "CHECKOUT_DB_POOL_SIZE",
            "CHECKOUT_MAX_BODY_BYTES",
            "CHECKOUT_WORKERS",
            "DEV_LOGIN_ENABLED",
            "GRACE_PERIOD_DAYS",
            "PLANS",
        ],
        settings: &["configuration.rs"],
        required: &[
            "DATABASE_URL",
            "CRYPTOCLOUD_API_URL",
            "CRYPTOCLOUD_API_KEY",
            "CRYPTOCLOUD_SHOP_ID",
            "BASE_URL",
            "AUTH_JWT_SECRET",
            "ADMIN_TOKEN",
            "CHECKOUT_LISTEN",
        ],
    },
    Service {
        name: "webhook-ingest",
        port: 8081,
        listen_env: "INGEST_LISTEN",
        readiness_path: "/readyz",
        env: &[
            "AMQP_URL",
            "CRYPTOCLOUD_SECRET_KEY",
            "INGEST_LISTEN",
            "CRYPTOCLOUD_TOKEN_LEEWAY_SECS",
            "LOG_FORMAT",
        ],
        extra: &[
            "CRYPTOCLOUD_SECRET_KEY_PREVIOUS",
            "INGEST_PUBLISH_TIMEOUT_MS",
            "INGEST_ALLOWED_NETWORKS",
            "INGEST_TRUSTED_PROXIES",
            "INGEST_RATE_LIMIT_PER_MINUTE",
            "INGEST_BODY_TIMEOUT_MS",
        ],
        settings: &["configuration.rs"],
        required: &["AMQP_URL", "CRYPTOCLOUD_SECRET_KEY", "INGEST_LISTEN"],
    },
    Service {
        name: "subscription-worker",
        port: 8082,
        listen_env: "WORKER_LISTEN",
        readiness_path: "/readyz",
        env: &[
            "DATABASE_URL",
            "AMQP_URL",
            "CRYPTOCLOUD_API_URL",
            "CRYPTOCLOUD_API_KEY",
            "ADMIN_TOKEN",
            "WORKER_LISTEN",
            "WORKER_SWEEP_INTERVAL_SECS",
            "WORKER_RECONCILE_AFTER_SECS",
            "LOG_FORMAT",
        ],
        extra: &[
            "WORKER_PREFETCH",
            "WORKER_CONCURRENCY",
            "WORKER_BATCH_SIZE",
            "WORKER_MAX_ATTEMPTS",
            "WORKER_DB_POOL_SIZE",
            "PAYMENT_TOLERANCE_PERCENT",
            "WORKER_ACCEPT_TEST_INVOICES",
            "CRYPTOCLOUD_SHOP_ID",
            "RENEWAL_NOTICE_DAYS",
            "RENEWAL_MONTHS",
            "GRACE_PERIOD_DAYS",
            "PLANS",
        ],
        // `Settings` (run, reconcile), `DatabaseSettings` (migrate), `BrokerSettings` (dlq).
        settings: &["settings.rs"],
        required: &[
            "DATABASE_URL",
            "AMQP_URL",
            "CRYPTOCLOUD_API_URL",
            "CRYPTOCLOUD_API_KEY",
            "ADMIN_TOKEN",
            "WORKER_LISTEN",
        ],
    },
    Service {
        name: "event-dispatcher",
        port: 8083,
        listen_env: "DISPATCH_LISTEN",
        readiness_path: "/readyz",
        env: &[
            "DATABASE_URL",
            "AMQP_URL",
            "ADMIN_TOKEN",
            "DISPATCH_LISTEN",
            "WEBHOOK_ENDPOINTS",
            "DISPATCH_RETRY_SCHEDULE_SECS",
            "DISPATCH_TIMEOUT_SECS",
            "DISPATCH_DISABLE_AFTER_HOURS",
            "DISPATCH_ALLOW_PRIVATE",
            "LOG_FORMAT",
        ],
        extra: &[
            "DISPATCH_CONCURRENCY",
            "DISPATCH_ENDPOINT_CONCURRENCY",
            "DISPATCH_PREFETCH",
            "DISPATCH_DB_POOL_SIZE",
        ],
        settings: &["settings.rs"],
        required: &["DATABASE_URL", "AMQP_URL", "ADMIN_TOKEN", "DISPATCH_LISTEN"],
    },
    Service {
        name: "cryptocloud-sandbox",
        port: 8088,
        listen_env: "SANDBOX_LISTEN",
        // The sandbox serves only /healthz.
        readiness_path: "/healthz",
        env: &[
            "SANDBOX_LISTEN",
            "SANDBOX_POSTBACK_URL",
            "SANDBOX_POSTBACK_FORMAT",
            "SANDBOX_API_KEY",
            "SANDBOX_SHOP_ID",
            "SANDBOX_SECRET_KEY",
            "LOG_FORMAT",
        ],
        extra: &[
            "SANDBOX_PUBLIC_URL",
            "SANDBOX_POSTBACK_RETRIES",
            "SANDBOX_POSTBACK_BACKOFF_MS",
            "SANDBOX_POSTBACK_TIMEOUT_MS",
            "SANDBOX_ID_CLAIM",
            "SANDBOX_SIDE_COMMISSION",
            "SANDBOX_SUCCESS_URL",
            "SANDBOX_FAIL_URL",
            "SANDBOX_LATENCY_MS",
            "SANDBOX_ERROR_RATE",
            "SANDBOX_ERROR_STATUS",
            "SANDBOX_DROP_RATE",
            "SANDBOX_WORKERS",
        ],
        settings: &["settings.rs"],
        required: &[
            "SANDBOX_LISTEN",
            "SANDBOX_POSTBACK_URL",
            "SANDBOX_API_KEY",
            "SANDBOX_SHOP_ID",
            "SANDBOX_SECRET_KEY",
        ],
    },
];

/// Read by `crates/platform` in every service: log format and filter, config file location.
const PLATFORM_VARIABLES: [&str; 4] = ["LOG_FORMAT", "RUST_LOG", "APP_ENV", "APP_CONFIG_DIR"];

/// What `subscription-worker migrate` (the migration Job) needs.
const MIGRATE_VARIABLES: [&str; 1] = ["DATABASE_URL"];

/// Turns on `/dev/login` (a session for any user id): never outside compose and `deploy/dev`.
const DEV_LOGIN: &str = "DEV_LOGIN_ENABLED";

/// Lets the dispatcher deliver to loopback, private and link-local addresses (local
/// development): never outside compose and `deploy/dev`.
const ALLOW_PRIVATE: &str = "DISPATCH_ALLOW_PRIVATE";

/// The dispatcher's configured endpoints, signing secrets included.
const WEBHOOK_ENDPOINTS: &str = "WEBHOOK_ENDPOINTS";

/// Variables of docker compose itself (container credentials, sandbox switch), which
/// .env.example may carry besides the contract's.
const COMPOSE_ONLY_VARIABLES: [&str; 6] = [
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "COMPOSE_CRYPTOCLOUD_API_URL",
];

/// The sandbox reads its credentials from the keys the real services use, so they match.
const SANDBOX_SECRET_KEYS: [(&str, &str); 3] = [
    ("SANDBOX_API_KEY", "CRYPTOCLOUD_API_KEY"),
    ("SANDBOX_SHOP_ID", "CRYPTOCLOUD_SHOP_ID"),
    ("SANDBOX_SECRET_KEY", "CRYPTOCLOUD_SECRET_KEY"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn service(name: &str) -> &'static Service {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not a service of the contract"))
}

impl Service {
    /// Every variable this service's code reads: the contract's, its extras, platform's.
    fn reads(&self) -> BTreeSet<&'static str> {
        self.env
            .iter()
            .chain(self.extra)
            .chain(PLATFORM_VARIABLES.iter())
            .copied()
            .collect()
    }

    fn accepts(&self, name: &str) -> bool {
        self.reads().contains(name)
    }
}

fn all_variables() -> BTreeSet<&'static str> {
    SERVICES.iter().flat_map(Service::reads).collect()
}

/// Variable names declared by the `#[derive(.. Deserialize ..)]` structs of a settings
/// file: each `pub` field, upper-cased, or its `#[serde(rename = "...")]`.
fn declared_variables(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut deserialize = false;
    let mut in_struct = false;
    let mut attributes = String::new();
    let mut open_attribute = false;
    for line in source.lines() {
        let trimmed = line.trim();
        if !in_struct {
            if trimmed.starts_with("#[derive(") {
                deserialize = trimmed.contains("Deserialize");
            } else if line.starts_with("pub struct ") && trimmed.ends_with('{') {
                in_struct = deserialize;
                deserialize = false;
            } else if !trimmed.starts_with("#[") && !trimmed.starts_with("///") {
                deserialize = false;
            }
            continue;
        }
        if line == "}" {
            in_struct = false;
        } else if trimmed.starts_with("#[") || open_attribute {
            attributes.push_str(trimmed);
            attributes.push(' ');
            open_attribute = !trimmed.ends_with(']');
        } else if let Some(field) = trimmed
            .strip_prefix("pub ")
            .and_then(|rest| rest.split_once(':'))
            .map(|(field, _)| field.trim())
        {
            assert!(
                !attributes.contains("flatten"),
                "a flattened settings field ({field}) cannot be checked here"
            );
            let renamed = attributes
                .split("rename = \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next());
            names.insert(renamed.unwrap_or(field).to_uppercase());
            attributes.clear();
        } else if !trimmed.starts_with("//") && !trimmed.is_empty() {
            attributes.clear();
        }
    }
    names
}

fn listen_value(service: &Service) -> String {
    format!("0.0.0.0:{}", service.port)
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
            value.apply_merge().expect("YAML merge keys resolve");
            value
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(*key))
}

fn seq(value: Option<&Value>) -> &[Value] {
    value
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Every YAML document under deploy/ except the deliberately broken test fixtures.
fn deploy_documents() -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("deploy/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if !path.ends_with("tests") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("deploy"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no YAML under deploy/");
    files
        .into_iter()
        .flat_map(|path| {
            yaml_documents(&path)
                .into_iter()
                .map(move |doc| (path.clone(), doc))
        })
        .collect()
}

fn of_kind<'a>(docs: &'a [(PathBuf, Value)], kind: &str) -> Vec<&'a (PathBuf, Value)> {
    docs.iter()
        .filter(|(_, doc)| str_at(doc, &["kind"]) == Some(kind))
        .collect()
}

fn is_patch(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "patches")
}

#[test]
fn each_service_package_builds_a_binary_named_after_its_folder() {
    for service in &SERVICES {
        let manifest = read(&format!("services/{}/Cargo.toml", service.name));
        // Names given in [package] and in any [[bin]] table.
        let mut section = "";
        let mut names = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
            } else if let Some(name) = line.strip_prefix("name = ") {
                if section == "[package]" || section == "[[bin]]" {
                    names.push((section, name.trim_matches('"')));
                }
            }
        }
        assert!(
            names.contains(&("[package]", service.name)),
            "services/{0}: the package must be named {0}",
            service.name
        );
        for (section, name) in names {
            assert_eq!(
                name, service.name,
                "services/{}: {section} name",
                service.name
            );
        }
    }
}

#[test]
fn dockerfile_has_a_non_root_target_per_service_running_its_binary() {
    let dockerfile = read("Dockerfile");
    // stage name -> (parent, instructions)
    let mut stages: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut current = String::new();
    for line in dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0].eq_ignore_ascii_case("FROM") {
            let parent = words[1].to_string();
            current = match words.get(2) {
                Some(kw) if kw.eq_ignore_ascii_case("AS") => words[3].to_string(),
                _ => format!("stage-{}", stages.len()),
            };
            stages.insert(current.clone(), (parent, Vec::new()));
        } else if let Some((_, instructions)) = stages.get_mut(&current) {
            instructions.push(line.to_string());
        }
    }
    let builder = stages.get("builder").expect("a `builder` stage");
    let build = builder.1.join(" ");

    for service in &SERVICES {
        let (_, instructions) = stages
            .get(service.name)
            .unwrap_or_else(|| panic!("Dockerfile has no target {}", service.name));
        let binary = format!("/usr/local/bin/{}", service.name);
        assert!(
            build.contains(&format!("--bin {}", service.name)),
            "builder does not build {}",
            service.name
        );
        assert!(
            instructions.contains(&format!(
                "COPY --from=builder /app/target/release/{} {binary}",
                service.name
            )),
            "target {} does not copy its binary",
            service.name
        );
        assert!(
            instructions.contains(&format!("ENTRYPOINT [\"{binary}\"]")),
            "target {} does not run {binary}",
            service.name
        );
        assert!(
            instructions.contains(&format!("EXPOSE {}", service.port)),
            "target {} does not expose {}",
            service.name,
            service.port
        );

        // The effective USER: the last one in this stage or, failing that, its ancestors'.
        let mut stage = service.name.to_string();
        let user = loop {
            let (parent, instructions) = &stages[&stage];
            if let Some(user) = instructions
                .iter()
                .rev()
                .find_map(|i| i.strip_prefix("USER "))
            {
                break user.to_string();
            }
            assert!(
                stages.contains_key(parent),
                "target {} runs as the base image's user",
                service.name
            );
            stage = parent.clone();
        };
        let uid = user.split(':').next().unwrap_or_default();
        assert!(
            uid != "root" && uid != "0",
            "target {} runs as root",
            service.name
        );
    }
}

#[test]
fn compose_services_use_the_contract_ports_listen_addresses_and_variables() {
    let compose = yaml_documents(&repo().join("docker-compose.yml")).remove(0);
    for service in &SERVICES {
        let spec = at(&compose, &["services", service.name])
            .unwrap_or_else(|| panic!("compose has no service {}", service.name));
        assert_eq!(
            str_at(spec, &["build", "target"]),
            Some(service.name),
            "{}: build target",
            service.name
        );

        let env = spec
            .get("environment")
            .and_then(Value::as_mapping)
            .expect("environment map");
        let names: BTreeSet<&str> = env.keys().filter_map(Value::as_str).collect();
        for name in &names {
            assert!(
                service.accepts(name),
                "compose {}: {name} is not a variable this service reads",
                service.name
            );
        }
        for name in service.required {
            assert!(
                names.contains(name),
                "compose {}: {name} is missing",
                service.name
            );
        }
        assert_eq!(
            env.get(service.listen_env).and_then(Value::as_str),
            Some(listen_value(service).as_str()),
            "compose {}: {}",
            service.name,
            service.listen_env
        );
        let published = format!("{0}:{0}", service.port);
        assert!(
            seq(spec.get("ports"))
                .iter()
                .filter_map(Value::as_str)
                .any(|p| p.ends_with(&published)),
            "compose {}: port {} is not published",
            service.name,
            service.port
        );
    }
}

/// The dispatcher shares the worker's database and broker, and starts only once both are
/// healthy (it applies migrations and declares its queue at start).
#[test]
fn compose_dispatcher_uses_the_workers_database_and_broker() {
    let compose = yaml_documents(&repo().join("docker-compose.yml")).remove(0);
    let env_of = |name: &str, variable: &str| {
        str_at(&compose, &["services", name, "environment", variable]).map(str::to_owned)
    };
    for variable in ["DATABASE_URL", "AMQP_URL", "ADMIN_TOKEN"] {
        assert_eq!(
            env_of("event-dispatcher", variable),
            env_of("subscription-worker", variable),
            "compose event-dispatcher: {variable} differs from the worker's"
        );
    }
    assert_eq!(
        env_of("event-dispatcher", ALLOW_PRIVATE).as_deref(),
        Some("${DISPATCH_ALLOW_PRIVATE:-false}"),
        "compose event-dispatcher: {ALLOW_PRIVATE} is off unless .env turns it on"
    );
    for dependency in ["postgres", "rabbitmq"] {
        assert_eq!(
            str_at(
                &compose,
                &[
                    "services",
                    "event-dispatcher",
                    "depends_on",
                    dependency,
                    "condition"
                ]
            ),
            Some("service_healthy"),
            "compose event-dispatcher: waits for {dependency} to be healthy"
        );
    }
}

/// `NAME=value` or, commented out, `# NAME=value` (a documented optional setting).
fn assignment(line: &str) -> Option<(&str, &str, bool)> {
    let (line, commented) = match line.strip_prefix('#') {
        Some(rest) => (rest.trim_start(), true),
        None => (line, false),
    };
    let (name, value) = line.split_once('=')?;
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !is_name {
        assert!(commented, "not KEY=VALUE: {line}");
        return None;
    }
    Some((name, value, commented))
}

#[test]
fn env_example_uses_known_names_and_default_listen_addresses() {
    let known = all_variables();
    let example = read(".env.example");
    let mut seen = BTreeSet::new();
    for (name, value, commented) in example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(assignment)
    {
        assert!(
            known.contains(name) || COMPOSE_ONLY_VARIABLES.contains(&name),
            ".env.example: {name} is neither a variable a service reads nor a compose setting"
        );
        if commented {
            continue;
        }
        if let Some(service) = SERVICES.iter().find(|s| s.listen_env == name) {
            assert_eq!(value, listen_value(service), ".env.example: {name}");
        }
        seen.insert(name);
    }
    for required in SERVICES.iter().flat_map(|s| s.required) {
        assert!(seen.contains(required), ".env.example lacks {required}");
    }
}

#[test]
fn kubernetes_containers_use_the_contract_ports_probes_and_variables() {
    let docs = deploy_documents();
    let mut deployed = BTreeSet::new();
    for (path, doc) in of_kind(&docs, "Deployment") {
        let spec = at(doc, &["spec", "template", "spec"]);
        for container in seq(spec.and_then(|s| s.get("containers"))) {
            let name = str_at(container, &["name"]).expect("container name");
            let service = service(name);
            let whole = !is_patch(path);
            if whole {
                deployed.insert(name);
                let image = str_at(container, &["image"]).expect("image");
                assert!(
                    image.contains(&format!("/{name}:")),
                    "{}: {name} runs image {image}",
                    path.display()
                );
                let ports = seq(container.get("ports"));
                assert_eq!(ports.len(), 1, "{}: {name} has one port", path.display());
                assert_eq!(
                    at(&ports[0], &["containerPort"]).and_then(Value::as_u64),
                    Some(u64::from(service.port)),
                    "{}: {name} containerPort",
                    path.display()
                );
                assert_eq!(
                    str_at(&ports[0], &["name"]),
                    Some("http"),
                    "{}: {name} port name",
                    path.display()
                );
                for (probe, expected) in [
                    ("livenessProbe", "/healthz"),
                    ("readinessProbe", service.readiness_path),
                    ("startupProbe", "/healthz"),
                ] {
                    let Some(probe_spec) = container.get(probe) else {
                        assert_ne!(
                            probe,
                            "livenessProbe",
                            "{}: {name} has no liveness probe",
                            path.display()
                        );
                        assert_ne!(
                            probe,
                            "readinessProbe",
                            "{}: {name} has no readiness probe",
                            path.display()
                        );
                        continue;
                    };
                    assert_eq!(
                        str_at(probe_spec, &["httpGet", "path"]),
                        Some(expected),
                        "{}: {name} {probe} path",
                        path.display()
                    );
                    assert_eq!(
                        str_at(probe_spec, &["httpGet", "port"]),
                        Some("http"),
                        "{}: {name} {probe} port",
                        path.display()
                    );
                }
                let annotations = at(doc, &["spec", "template", "metadata", "annotations"]);
                if let Some(port) = annotations.and_then(|a| str_at(a, &["prometheus.io/port"])) {
                    assert_eq!(
                        port,
                        service.port.to_string(),
                        "{}: {name} scrape port",
                        path.display()
                    );
                }
            }
            let env = seq(container.get("env"));
            let names: BTreeSet<&str> = env.iter().filter_map(|e| str_at(e, &["name"])).collect();
            for variable in env {
                check_env_entry(path, service, variable);
            }
            if whole {
                for required in service.required {
                    assert!(
                        names.contains(required),
                        "{}: {name} lacks {required}",
                        path.display()
                    );
                }
            }
        }
    }
    let expected: BTreeSet<&str> = SERVICES.iter().map(|s| s.name).collect();
    assert_eq!(
        deployed, expected,
        "every service has a Deployment under deploy/"
    );
}

fn check_env_entry(path: &Path, service: &Service, variable: &Value) {
    let name = str_at(variable, &["name"]).expect("env name");
    let at_file = path.display();
    assert!(
        service.accepts(name),
        "{at_file}: {name} is not a variable {} reads",
        service.name
    );
    if name == service.listen_env {
        assert_eq!(
            str_at(variable, &["value"]),
            Some(listen_value(service).as_str()),
            "{at_file}: {name}"
        );
    }
    if let Some(key) = str_at(variable, &["valueFrom", "configMapKeyRef", "key"]) {
        assert_eq!(key, name, "{at_file}: {name} reads ConfigMap key {key}");
    }
    if let Some(key) = str_at(variable, &["valueFrom", "secretKeyRef", "key"]) {
        let expected = SANDBOX_SECRET_KEYS
            .iter()
            .find(|(sandbox, _)| *sandbox == name)
            .map_or(name, |(_, shared)| shared);
        assert_eq!(key, expected, "{at_file}: {name} reads Secret key {key}");
    }
}

#[test]
fn kubernetes_services_expose_the_contract_ports() {
    let docs = deploy_documents();
    for (path, doc) in of_kind(&docs, "Service") {
        let name = str_at(doc, &["metadata", "name"]).expect("name");
        let service = service(name);
        let ports = seq(at(doc, &["spec", "ports"]));
        assert_eq!(ports.len(), 1, "{}: Service {name}", path.display());
        assert_eq!(
            at(&ports[0], &["port"]).and_then(Value::as_u64),
            Some(u64::from(service.port)),
            "{}: Service {name} port",
            path.display()
        );
        assert_eq!(
            str_at(&ports[0], &["targetPort"]),
            Some("http"),
            "{}: Service {name} targetPort",
            path.display()
        );
    }
}

#[test]
fn config_map_keys_and_migration_job_follow_the_contract() {
    let docs = deploy_documents();
    let known = all_variables();
    let config_maps = of_kind(&docs, "ConfigMap");
    assert!(!config_maps.is_empty(), "no ConfigMap under deploy/");
    for (path, doc) in config_maps {
        for key in doc
            .get("data")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let key = key.as_str().expect("string key");
            assert!(
                known.contains(key),
                "{}: ConfigMap key {key} is not a variable any service reads",
                path.display()
            );
        }
    }

    let worker = service("subscription-worker");
    let jobs = of_kind(&docs, "Job");
    assert_eq!(jobs.len(), 1, "one migration Job");
    let (path, job) = jobs[0];
    let containers = seq(at(job, &["spec", "template", "spec", "containers"]));
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let image = str_at(container, &["image"]).expect("image");
    assert!(
        image.contains("/subscription-worker:"),
        "{}: the Job runs the worker image, not {image}",
        path.display()
    );
    let args: Vec<&str> = seq(container.get("args"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        ["migrate"],
        "{}: the Job runs `subscription-worker migrate`",
        path.display()
    );
    for variable in seq(container.get("env")) {
        check_env_entry(path, worker, variable);
        let name = str_at(variable, &["name"]).expect("env name");
        assert!(
            MIGRATE_VARIABLES.contains(&name) || PLATFORM_VARIABLES.contains(&name),
            "{}: `subscription-worker migrate` needs only {MIGRATE_VARIABLES:?}, not {name}",
            path.display()
        );
    }
    for name in MIGRATE_VARIABLES {
        assert!(
            seq(container.get("env"))
                .iter()
                .any(|v| str_at(v, &["name"]) == Some(name)),
            "{}: the migration Job lacks {name}",
            path.display()
        );
    }
}

/// Each service's allowed names are exactly what its settings structs declare (plus the
/// platform's), so a variable added to or dropped from the code fails here until the
/// table above, and with it the deployment files, follow.
#[test]
fn allowed_variables_are_exactly_what_the_code_reads() {
    for service in &SERVICES {
        let mut code: BTreeSet<String> = PLATFORM_VARIABLES.iter().map(|v| v.to_string()).collect();
        for file in service.settings {
            let declared =
                declared_variables(&read(&format!("services/{}/src/{file}", service.name)));
            assert!(
                !declared.is_empty(),
                "services/{}/src/{file} declares no settings",
                service.name
            );
            code.extend(declared);
        }
        let allowed: BTreeSet<String> = service.reads().iter().map(|v| v.to_string()).collect();
        let missing: Vec<_> = code.difference(&allowed).collect();
        let stale: Vec<_> = allowed.difference(&code).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{}: the code reads {missing:?} which the table lacks, and the table lists \
             {stale:?} which the code does not read",
            service.name
        );
    }
}

#[test]
fn platform_reads_the_platform_variables() {
    let config = read("crates/platform/src/config.rs");
    let telemetry = read("crates/platform/src/telemetry.rs");
    for name in ["APP_ENV", "APP_CONFIG_DIR"] {
        assert!(
            config.contains(&format!("\"{name}\"")),
            "platform config: {name}"
        );
    }
    assert!(
        telemetry.contains("\"LOG_FORMAT\""),
        "platform telemetry: LOG_FORMAT"
    );
    // EnvFilter's default environment variable is RUST_LOG.
    assert!(
        telemetry.contains("EnvFilter::try_from_default_env"),
        "platform telemetry: RUST_LOG"
    );
}

#[test]
fn the_settings_parser_reads_fields_and_renames() {
    let source = r#"
#[derive(Debug, Deserialize)]
pub struct Settings {
    /// A doc comment.
    #[serde(default)]
    pub plain_field: u32,
    #[serde(
        rename = "renamed_var",
        default
    )]
    pub internal: String,
}

#[derive(Debug)]
pub struct NotSettings {
    pub ignored: u32,
}
"#;
    let names: Vec<String> = declared_variables(source).into_iter().collect();
    assert_eq!(names, ["PLAIN_FIELD", "RENAMED_VAR"]);
}

/// Outside `deploy/dev`, `variable` may only be set, literally, to false: in a ConfigMap,
/// or as a container's inline value (a container reading it from anywhere else fails).
fn stays_off_outside_the_dev_overlay(variable: &str) {
    let dev = repo().join("deploy/dev");
    for (path, doc) in deploy_documents() {
        if path.starts_with(&dev) {
            continue;
        }
        if let Some(value) = at(&doc, &["data", variable]) {
            assert_eq!(
                value.as_str(),
                Some("false"),
                "{}: ConfigMap {variable}",
                path.display()
            );
        }
        let spec = at(&doc, &["spec", "template", "spec"]);
        for container in seq(spec.and_then(|s| s.get("containers"))) {
            for env in seq(container.get("env")) {
                if str_at(env, &["name"]) == Some(variable) {
                    assert_eq!(
                        str_at(env, &["value"]),
                        Some("false"),
                        "{}: {variable} must be the literal false here",
                        path.display()
                    );
                }
            }
        }
    }
}

/// A session for anyone must never reach a real cluster: outside `deploy/dev`,
/// DEV_LOGIN_ENABLED may only be set, literally, to false.
#[test]
fn dev_login_stays_off_outside_the_dev_overlay() {
    stays_off_outside_the_dev_overlay(DEV_LOGIN);
}

/// The dispatcher's SSRF guard (no loopback, private or link-local destinations) stays on
/// outside `deploy/dev`, and the base pins it on rather than leaving it to a ConfigMap.
#[test]
fn dispatcher_refuses_private_destinations_outside_the_dev_overlay() {
    stays_off_outside_the_dev_overlay(ALLOW_PRIVATE);
    let base = repo().join("deploy/base");
    let pinned = deploy_documents().into_iter().any(|(path, doc)| {
        path.starts_with(&base)
            && str_at(&doc, &["kind"]) == Some("Deployment")
            && seq(at(&doc, &["spec", "template", "spec", "containers"]))
                .iter()
                .flat_map(|c| seq(c.get("env")))
                .any(|e| {
                    str_at(e, &["name"]) == Some(ALLOW_PRIVATE)
                        && str_at(e, &["value"]) == Some("false")
                })
    });
    assert!(
        pinned,
        "deploy/base: the event-dispatcher Deployment sets {ALLOW_PRIVATE} to the literal false"
    );
}

/// WEBHOOK_ENDPOINTS carries the endpoints' signing secrets: only ever from the Secret.
#[test]
fn webhook_endpoints_come_only_from_the_secret() {
    for (path, doc) in deploy_documents() {
        assert!(
            at(&doc, &["data", WEBHOOK_ENDPOINTS]).is_none(),
            "{}: {WEBHOOK_ENDPOINTS} holds secrets; it belongs in payments-secrets",
            path.display()
        );
        let spec = at(&doc, &["spec", "template", "spec"]);
        for container in seq(spec.and_then(|s| s.get("containers"))) {
            for env in seq(container.get("env")) {
                if str_at(env, &["name"]) == Some(WEBHOOK_ENDPOINTS) {
                    assert!(
                        at(env, &["valueFrom", "secretKeyRef"]).is_some(),
                        "{}: {WEBHOOK_ENDPOINTS} must come from a secretKeyRef",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn production_refuses_test_invoices() {
    let production = repo().join("deploy/production");
    let set: Vec<_> = deploy_documents()
        .into_iter()
        .filter(|(path, _)| path.starts_with(&production))
        .filter_map(|(path, doc)| {
            at(&doc, &["data", "WORKER_ACCEPT_TEST_INVOICES"])
                .map(|v| (path, v.as_str().map(str::to_owned)))
        })
        .collect();
    assert_eq!(
        set.len(),
        1,
        "the production overlay sets WORKER_ACCEPT_TEST_INVOICES once"
    );
    assert_eq!(set[0].1.as_deref(), Some("false"), "{}", set[0].0.display());
}

/// The table above is a copy of the contract; when the contract document is reachable
/// (in the repository or in the shared folder beside it), the copy must agree with it.
#[test]
fn contract_copy_agrees_with_the_architecture_document() {
    let candidates = [
        repo().join("docs/architecture.md"),
        repo().join("../shared/docs/architecture.md"),
    ];
    let Some(text) = candidates.iter().find_map(|p| fs::read_to_string(p).ok()) else {
        eprintln!("architecture.md not found beside the repository; comparing nothing");
        return;
    };
    let section = text
        .split("## Contract: configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a 'Contract: configuration' section");
    let mut documented: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let users: BTreeSet<&str> = cells[2]
            .split(',')
            .map(str::trim)
            .flat_map(|user| match user {
                "all" => SERVICES.iter().map(|s| s.name).collect::<Vec<_>>(),
                "ingest" => vec!["webhook-ingest"],
                "worker" => vec!["subscription-worker"],
                "dispatcher" => vec!["event-dispatcher"],
                "sandbox" => vec!["cryptocloud-sandbox"],
                other => vec![other],
            })
            .collect();
        for name in cells[1].split('`').skip(1).step_by(2) {
            documented.insert(name, users.clone());
        }
    }
    let mut ours: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for service in &SERVICES {
        for name in service.env {
            ours.entry(name).or_default().insert(service.name);
        }
    }
    assert_eq!(
        ours, documented,
        "the contract table changed: update SERVICES and the deployment files"
    );
}

/// `docker compose up --wait` needs a healthcheck on every service, and the images have no
/// shell: each binary probes itself (`BINARY healthcheck`), and services wait for what
/// they need to be healthy, not merely started.
#[test]
fn compose_services_check_their_own_health_and_wait_for_healthy_dependencies() {
    let compose = yaml_documents(&repo().join("docker-compose.yml")).remove(0);
    for service in &SERVICES {
        let spec = at(&compose, &["services", service.name]).expect("a compose service");
        let test: Vec<&str> = seq(at(spec, &["healthcheck", "test"]))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let binary = format!("/usr/local/bin/{}", service.name);
        assert_eq!(
            test,
            ["CMD", binary.as_str(), "healthcheck"],
            "compose {}: healthcheck",
            service.name
        );
        if let Some(deps) = spec.get("depends_on").and_then(Value::as_mapping) {
            for (dep, how) in deps {
                assert_eq!(
                    str_at(how, &["condition"]),
                    Some("service_healthy"),
                    "compose {}: depends on {dep:?} being healthy",
                    service.name
                );
            }
        }
    }
}

/// `key = value` lines of a flat TOML file (no tables), in order.
fn toml_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            assert!(!l.starts_with('['), "a flat file, no tables: {l}");
            let (key, _) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not key = value: {l}"));
            key.trim().to_string()
        })
        .collect()
}

fn load_as<S: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<S, platform::config::ConfigError> {
    let config = config::Config::builder()
        .add_source(config::File::from(path))
        .build()
        .expect("config/example.toml is TOML");
    platform::config::from_config(config)
}

/// `config/example.toml` sets every setting of every service exactly once (the keys are
/// the variables' lower-case names), nothing the services do not read from their
/// settings, and each service's own settings type loads it as it stands.
#[test]
fn the_sample_config_has_every_setting_once_and_every_service_loads_it() {
    let keys = toml_keys(&read("config/example.toml"));
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        keys.len(),
        "a key set twice in config/example.toml"
    );
    let mut code = BTreeSet::new();
    for service in &SERVICES {
        for file in service.settings {
            code.extend(
                declared_variables(&read(&format!("services/{}/src/{file}", service.name)))
                    .into_iter()
                    .map(|v| v.to_lowercase()),
            );
        }
    }
    let missing: Vec<_> = code.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "config/example.toml lacks {missing:?} and sets {unknown:?}, which no settings type reads \
         (LOG_FORMAT, RUST_LOG, APP_ENV and APP_CONFIG_DIR are read from the environment only)"
    );

    let path = repo().join("config/example.toml");
    load_as::<checkout::Settings>(&path).expect("checkout loads it");
    load_as::<webhook_ingest::Settings>(&path).expect("webhook-ingest loads it");
    load_as::<subscription_worker::Settings>(&path).expect("subscription-worker loads it");
    load_as::<event_dispatcher::Settings>(&path).expect("event-dispatcher loads it");
    load_as::<cryptocloud_sandbox::Settings>(&path).expect("the sandbox loads it");
}

/// The development stack's moved clock (`tools/stack/src/devclock.rs`: a `devclock`
/// schema put first on the search path) is never configured for a deployment.
#[test]
fn no_deployment_reads_the_development_clock() {
    let mut texts = vec![
        ("docker-compose.yml".to_string(), read("docker-compose.yml")),
        (".env.example".to_string(), read(".env.example")),
        (
            "config/example.toml".to_string(),
            read("config/example.toml"),
        ),
    ];
    for (path, doc) in deploy_documents() {
        texts.push((
            path.display().to_string(),
            serde_norway::to_string(&doc).expect("YAML"),
        ));
    }
    for (name, text) in texts {
        assert!(
            !text.contains("devclock") && !text.contains("search_path"),
            "{name} configures the development clock"
        );
    }
}
