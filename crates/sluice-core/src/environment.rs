//! The registry of component specs and the builder that turns config nodes
//! into running components.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use sluice_bloblang::{Interpolation, Mapping};

use crate::cache::Cache;
use crate::component::buffer::Buffer;
use crate::component::input::Input;
use crate::component::output::Output;
use crate::component::processor::Processor;
use crate::component::shared::{SharedOutput, SharedProcessor};
use crate::config::{self, ComponentKind, Lint, LintLevel, Mark, Node, NodeKind};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimit;
use crate::runtime::batching::BatchPolicy;
use crate::template::Template;
use crate::trace::Tracer;

/// Build results: every problem found, with positions.
pub type BuildResult<T> = Result<T, Vec<Lint>>;

/// How mature a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Behaves as in Benthos.
    Stable,
    /// Works, with gaps named in its summary.
    Beta,
    /// Works, but its config or behaviour may still change.
    Experimental,
}

impl Status {
    /// The name `sluice list --status` and the docs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stable => "stable",
            Status::Beta => "beta",
            Status::Experimental => "experimental",
        }
    }
}

/// Describes one component and how to build it.
pub struct ComponentSpec<B> {
    /// The Benthos config key.
    pub name: &'static str,
    /// How mature it is.
    pub status: Status,
    /// One line for `sluice list` and the README.
    pub summary: &'static str,
    /// The JSON Schema of the config under its type key, with a description,
    /// type and default for every field (docs and `sluice list --format
    /// jsonschema` are generated from it).
    pub config_schema: config::json_schema::ConfigSchema,
    /// Builds the component from the node under its type key.
    pub build: B,
}

/// Builds an input from its config node.
pub type InputBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<Box<dyn Input>>;
/// Builds a processor from its config node.
pub type ProcessorBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<Box<dyn Processor>>;
/// Builds an output from its config node.
pub type OutputBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<BuiltOutput>;
/// Builds a rate limit from its config node.
pub type RateLimitBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<Arc<dyn RateLimit>>;
/// Builds a cache from its config node.
pub type CacheBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>>;
/// Builds a buffer from its config node; `None` is the `none` buffer, which
/// couples the input straight to the pipeline.
pub type BufferBuild = fn(&Node, &mut Builder<'_>) -> BuildResult<Option<Arc<dyn Buffer>>>;

/// An output ready to run, with how the runtime should drive it.
pub struct BuiltOutput {
    /// The output.
    pub output: Arc<dyn Output>,
    /// How many writes may run at once.
    pub max_in_flight: usize,
    /// Output-level batching, if configured.
    pub batching: Option<BatchPolicy>,
}

impl BuiltOutput {
    /// An output with one write at a time and no batching.
    pub fn single(output: impl Output + 'static) -> Self {
        Self {
            output: Arc::new(output),
            max_in_flight: 1,
            batching: None,
        }
    }
}

/// An input ready to run, with its own processors.
pub struct BuiltInput {
    /// The input.
    pub input: Box<dyn Input>,
    /// Input-level processors, run before the pipeline's.
    pub processors: Vec<Box<dyn Processor>>,
    /// The type name, for logs.
    pub type_name: String,
    /// The `label`, empty when it has none.
    pub label: String,
}

/// The set of components sluice knows. Empty by default; the components
/// crate fills it. Passed explicitly, never global.
#[derive(Default)]
pub struct Environment {
    inputs: BTreeMap<&'static str, ComponentSpec<InputBuild>>,
    processors: BTreeMap<&'static str, ComponentSpec<ProcessorBuild>>,
    outputs: BTreeMap<&'static str, ComponentSpec<OutputBuild>>,
    rate_limits: BTreeMap<&'static str, ComponentSpec<RateLimitBuild>>,
    caches: BTreeMap<&'static str, ComponentSpec<CacheBuild>>,
    buffers: BTreeMap<&'static str, ComponentSpec<BufferBuild>>,
    // Real Benthos components that sluice does not have yet: they get a clear
    // "not supported yet" error instead of "not recognised".
    planned: BTreeMap<ComponentKind, Vec<&'static str>>,
    // Why a planned component is missing, where there is more to say than
    // "not yet" (no crate to build it on, say).
    planned_reasons: BTreeMap<(ComponentKind, &'static str), &'static str>,
    // Components defined by template files (`-t`).
    templates: BTreeMap<(ComponentKind, &'static str), Arc<Template>>,
}

impl Environment {
    /// Registers an input.
    pub fn add_input(&mut self, spec: ComponentSpec<InputBuild>) {
        self.inputs.insert(spec.name, spec);
    }

    /// Registers a processor.
    pub fn add_processor(&mut self, spec: ComponentSpec<ProcessorBuild>) {
        self.processors.insert(spec.name, spec);
    }

    /// Registers an output.
    pub fn add_output(&mut self, spec: ComponentSpec<OutputBuild>) {
        self.outputs.insert(spec.name, spec);
    }

    /// Registers a cache.
    pub fn add_cache(&mut self, spec: ComponentSpec<CacheBuild>) {
        self.caches.insert(spec.name, spec);
    }

    /// Registers a buffer.
    pub fn add_buffer(&mut self, spec: ComponentSpec<BufferBuild>) {
        self.buffers.insert(spec.name, spec);
    }

    /// Registers a rate limit.
    pub fn add_rate_limit(&mut self, spec: ComponentSpec<RateLimitBuild>) {
        self.rate_limits.insert(spec.name, spec);
    }

    /// Names Benthos components of `kind` that sluice does not support yet.
    pub fn add_planned(&mut self, kind: ComponentKind, names: &[&'static str]) {
        self.planned.entry(kind).or_default().extend(names);
    }

    /// Names a Benthos component sluice does not support, with the reason
    /// its "not supported yet" error gives.
    pub fn add_planned_because(
        &mut self,
        kind: ComponentKind,
        name: &'static str,
        reason: &'static str,
    ) {
        self.add_planned(kind, &[name]);
        self.planned_reasons.insert((kind, name), reason);
    }

    /// Registers a template as a component type of its kind. A template may
    /// take the name of a component sluice does not support yet, but not of
    /// one it has.
    pub fn add_template(&mut self, template: Template) -> Result<(), String> {
        let (kind, name) = (template.kind(), template.name());
        if self.is_registered(kind, name) {
            return Err(format!(
                "template {name}: {kind} type '{name}' already exists"
            ));
        }
        self.templates.insert((kind, name), Arc::new(template));
        Ok(())
    }

    /// The registered templates, sorted by kind and name.
    pub fn templates(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.templates.values()
    }

    fn template(&self, kind: ComponentKind, name: &str) -> Option<&Arc<Template>> {
        self.templates
            .iter()
            .find(|((k, n), _)| *k == kind && *n == name)
            .map(|(_, t)| t)
    }

    /// Registered input specs, sorted by name.
    pub fn inputs(&self) -> impl Iterator<Item = &ComponentSpec<InputBuild>> {
        self.inputs.values()
    }

    /// Registered processor specs, sorted by name.
    pub fn processors(&self) -> impl Iterator<Item = &ComponentSpec<ProcessorBuild>> {
        self.processors.values()
    }

    /// Registered output specs, sorted by name.
    pub fn outputs(&self) -> impl Iterator<Item = &ComponentSpec<OutputBuild>> {
        self.outputs.values()
    }

    /// Registered rate limit specs, sorted by name.
    pub fn rate_limits(&self) -> impl Iterator<Item = &ComponentSpec<RateLimitBuild>> {
        self.rate_limits.values()
    }

    /// Registered cache specs, sorted by name.
    pub fn caches(&self) -> impl Iterator<Item = &ComponentSpec<CacheBuild>> {
        self.caches.values()
    }

    /// Registered buffer specs, sorted by name.
    pub fn buffers(&self) -> impl Iterator<Item = &ComponentSpec<BufferBuild>> {
        self.buffers.values()
    }

    fn known_names(&self, kind: ComponentKind) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = match kind {
            ComponentKind::Input => self.inputs.keys().copied().collect(),
            ComponentKind::Processor => self.processors.keys().copied().collect(),
            ComponentKind::Output => self.outputs.keys().copied().collect(),
            ComponentKind::RateLimit => self.rate_limits.keys().copied().collect(),
            ComponentKind::Cache => self.caches.keys().copied().collect(),
            ComponentKind::Buffer => self.buffers.keys().copied().collect(),
            _ => Vec::new(),
        };
        if let Some(planned) = self.planned.get(&kind) {
            names.extend(planned);
        }
        names.extend(
            self.templates
                .keys()
                .filter(|(k, _)| *k == kind)
                .map(|(_, name)| *name),
        );
        names
    }

    fn is_registered(&self, kind: ComponentKind, name: &str) -> bool {
        match kind {
            ComponentKind::Input => self.inputs.contains_key(name),
            ComponentKind::Processor => self.processors.contains_key(name),
            ComponentKind::Output => self.outputs.contains_key(name),
            ComponentKind::RateLimit => self.rate_limits.contains_key(name),
            ComponentKind::Cache => self.caches.contains_key(name),
            ComponentKind::Buffer => self.buffers.contains_key(name),
            _ => false,
        }
    }

    // A registered component or template always wins over a planned entry
    // of the same name.
    fn is_planned(&self, kind: ComponentKind, name: &str) -> bool {
        !self.is_registered(kind, name)
            && self.template(kind, name).is_none()
            && self
                .planned
                .get(&kind)
                .is_some_and(|names| names.contains(&name))
    }
}

/// Shared things components look up while building: rate limits by label,
/// metrics, and typed extensions such as the shared HTTP server.
#[derive(Default)]
pub struct Resources {
    rate_limits: HashMap<String, Arc<dyn RateLimit>>,
    caches: HashMap<String, Arc<dyn Cache>>,
    // `input_resources`, `processor_resources` and `output_resources` by
    // label: built where a `resource` component names them.
    components: HashMap<(ComponentKind, String), Node>,
    extensions: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    metrics: Metrics,
    tracer: Option<Arc<dyn Tracer>>,
    strict_errors: bool,
    dry_run: bool,
    tolerant: bool,
}

impl Resources {
    /// Resources reporting to `metrics`.
    pub fn new(metrics: Metrics, strict_errors: bool) -> Self {
        Self {
            metrics,
            strict_errors,
            ..Self::default()
        }
    }

    /// Makes builds tolerate problems that do not stop a component from
    /// being built (unknown fields), recording them as warnings instead, as
    /// `--chilled` and `# BENTHOS LINT DISABLE` ask.
    pub fn set_tolerant(&mut self, tolerant: bool) {
        self.tolerant = tolerant;
    }

    /// Whether builds tolerate unknown fields.
    pub fn tolerant(&self) -> bool {
        self.tolerant
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Resources for building components only to check them (`lint`): no
    /// component may bind sockets or connect.
    pub fn for_dry_run(metrics: Metrics) -> Self {
        Self {
            metrics,
            dry_run: true,
            ..Self::default()
        }
    }

    /// Sets the tracer of the `tracer` section (absent for `none`).
    pub fn set_tracer(&mut self, tracer: Arc<dyn Tracer>) {
        self.tracer = Some(tracer);
    }

    /// The tracer, unless tracing is off.
    pub fn tracer(&self) -> Option<&Arc<dyn Tracer>> {
        self.tracer.as_ref()
    }

    /// Whether components are built only to be checked.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whether `error_handling.strict` is on.
    pub fn strict_errors(&self) -> bool {
        self.strict_errors
    }

    /// Adds a rate limit resource under its label.
    pub fn add_rate_limit(&mut self, label: String, limit: Arc<dyn RateLimit>) {
        self.rate_limits.insert(label, limit);
    }

    /// A rate limit resource by label.
    pub fn rate_limit(&self, label: &str) -> Option<Arc<dyn RateLimit>> {
        self.rate_limits.get(label).cloned()
    }

    /// Adds a cache resource under its label.
    pub fn add_cache(&mut self, label: String, cache: Arc<dyn Cache>) {
        self.caches.insert(label, cache);
    }

    /// A cache resource by label.
    pub fn cache(&self, label: &str) -> Option<Arc<dyn Cache>> {
        self.caches.get(label).cloned()
    }

    /// Adds an input, processor or output resource under its label.
    pub fn add_component(&mut self, kind: ComponentKind, label: String, node: Node) {
        self.components.insert((kind, label), node);
    }

    /// Stores a typed extension.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.extensions.insert(TypeId::of::<T>(), value);
    }

    /// A typed extension.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.extensions
            .get(&TypeId::of::<T>())
            .and_then(|v| Arc::clone(v).downcast::<T>().ok())
    }
}

/// Builds components from config nodes, gathering every problem.
pub struct Builder<'a> {
    env: &'a Environment,
    resources: &'a Resources,
    warnings: Vec<Lint>,
    // Resources being built, innermost last, to catch a resource that names
    // itself.
    expanding: Vec<(ComponentKind, String)>,
    // Input resources already taken: an input reads for one consumer.
    used_inputs: HashSet<String>,
    // Templates being rendered, innermost last, to catch one that renders
    // itself.
    rendering: Vec<(ComponentKind, &'static str)>,
    // Processor and output resources built so far: every reference to a
    // label shares its one instance.
    shared_processors: HashMap<String, SharedProcessor>,
    shared_outputs: HashMap<String, SharedOutput>,
}

impl<'a> Builder<'a> {
    /// A builder over `env` and `resources`.
    pub fn new(env: &'a Environment, resources: &'a Resources) -> Self {
        Self {
            env,
            resources,
            warnings: Vec::new(),
            expanding: Vec::new(),
            used_inputs: HashSet::new(),
            rendering: Vec::new(),
            shared_processors: HashMap::new(),
            shared_outputs: HashMap::new(),
        }
    }

    /// The shared resources.
    pub fn resources(&self) -> &'a Resources {
        self.resources
    }

    /// Records a compatibility warning, logged at startup (never a lint).
    pub fn warn(&mut self, mark: Mark, message: impl Into<String>) {
        self.warnings.push(Lint {
            line: mark.line,
            col: mark.col,
            level: LintLevel::Warning,
            message: message.into(),
        });
    }

    /// The warnings recorded so far.
    pub fn take_warnings(&mut self) -> Vec<Lint> {
        std::mem::take(&mut self.warnings)
    }

    /// Deserialises a typed config from `node`. Unknown fields are lints,
    /// or warnings when the resources are tolerant.
    pub fn config<T: DeserializeOwned>(&mut self, node: &Node) -> BuildResult<T> {
        if !self.resources.tolerant() {
            return config::from_node_all(node);
        }
        let (value, unknown) = config::from_node_parts(node);
        let value = value.map_err(|fatal| vec![fatal])?;
        self.warnings
            .extend(unknown.into_iter().map(Lint::into_warning));
        Ok(value)
    }

    /// Parses the Bloblang mapping held in the string `node`, mapping parse
    /// error positions back into the config file.
    pub fn mapping(&self, node: &Node) -> BuildResult<Mapping> {
        let text = node
            .as_str()
            .ok_or_else(|| vec![Lint::error(node.mark, "expected string value")])?;
        Mapping::parse(text).map_err(|err| {
            let at = node.content_position(err.line(), err.column());
            vec![Lint::error(at, format!("failed to parse mapping: {err}"))]
        })
    }

    /// Parses an interpolated string (`${! ... }`).
    pub fn interpolation(&self, text: &str, mark: Mark) -> BuildResult<Interpolation> {
        Interpolation::parse(text).map_err(|err| {
            vec![Lint::error(
                mark,
                format!("failed to parse interpolation: {err}"),
            )]
        })
    }

    fn split<'n>(
        &mut self,
        node: &'n Node,
        kind: ComponentKind,
    ) -> BuildResult<config::ComponentNode<'n>> {
        let known = self.env.known_names(kind);
        let component = if self.resources.tolerant() {
            let (component, soft) = config::split_component_tolerant(node, kind, &known)?;
            self.warnings
                .extend(soft.into_iter().map(Lint::into_warning));
            component
        } else {
            config::split_component(node, kind, &known)?
        };
        if self.env.is_planned(kind, component.type_name) {
            let reason = self
                .env
                .planned_reasons
                .get(&(kind, component.type_name))
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            return Err(vec![Lint::error(
                component.type_mark,
                format!(
                    "{kind} type '{}' is not supported yet{reason}",
                    component.type_name
                ),
            )]);
        }
        Ok(component)
    }

    /// Builds the resource of `kind` labelled by the string `node`, with
    /// `build`; a missing label or a resource that names itself is a lint.
    pub fn resource<T>(
        &mut self,
        kind: ComponentKind,
        node: &Node,
        build: impl FnOnce(&mut Self, &Node) -> BuildResult<T>,
    ) -> BuildResult<T> {
        let label = node
            .as_str()
            .ok_or_else(|| vec![Lint::error(node.mark, "expected string value")])?;
        let key = (kind, label.to_owned());
        let Some(resource) = self.resources.components.get(&key) else {
            return Err(vec![Lint::error(
                node.mark,
                format!("{kind} resource '{label}' was not found"),
            )]);
        };
        if self.expanding.contains(&key) {
            return Err(vec![Lint::error(
                node.mark,
                format!("{kind} resource '{label}' refers to itself"),
            )]);
        }
        self.expanding.push(key);
        let built = build(self, resource);
        self.expanding.pop();
        built
    }

    /// The processor resource labelled by the string `node`: built at its
    /// first reference, shared by every later one.
    pub fn resource_processor(&mut self, node: &Node) -> BuildResult<Box<dyn Processor>> {
        if let Some(shared) = node.as_str().and_then(|l| self.shared_processors.get(l)) {
            return Ok(shared.handle());
        }
        let built = self.resource(ComponentKind::Processor, node, Self::processor)?;
        let shared = SharedProcessor::new(built);
        let handle = shared.handle();
        if let Some(label) = node.as_str() {
            self.shared_processors.insert(label.to_owned(), shared);
        }
        Ok(handle)
    }

    /// The output resource labelled by the string `node`: one instance
    /// (one connection) for every reference. Each reference has its own
    /// writes in flight and batching, built from the resource's config.
    pub fn resource_output(&mut self, node: &Node) -> BuildResult<BuiltOutput> {
        let mut built = self.resource(ComponentKind::Output, node, Self::output)?;
        let Some(label) = node.as_str() else {
            return Ok(built);
        };
        let shared = self
            .shared_outputs
            .entry(label.to_owned())
            .or_insert_with(|| SharedOutput::new(Arc::clone(&built.output)));
        built.output = shared.handle();
        Ok(built)
    }

    /// Builds an input and its input-level processors. A `resource` input is
    /// resolved here, since the resource brings its own processors.
    pub fn input(&mut self, node: &Node) -> BuildResult<BuiltInput> {
        let component = self.split(node, ComponentKind::Input)?;
        if let Some(template) = self.env.template(ComponentKind::Input, component.type_name) {
            return self.with_template(template, &component, Self::input);
        }
        if component.type_name == "resource" {
            let label = component.config.as_str().unwrap_or_default().to_owned();
            if !self.used_inputs.insert(label.clone()) {
                return Err(vec![Lint::error(
                    component.config.mark,
                    format!("input resource '{label}' is used more than once"),
                )]);
            }
            let extra = component.processors;
            let mut built = self.resource(ComponentKind::Input, component.config, Self::input)?;
            built.processors.extend(self.processors(extra)?);
            return Ok(built);
        }
        let spec = &self.env.inputs[component.type_name];
        let mut lints = Vec::new();
        let input = (spec.build)(component.config, self).map_err(|l| lints.extend(l));
        let processors = self
            .processors(component.processors)
            .map_err(|l| lints.extend(l));
        match (input, processors) {
            (Ok(input), Ok(processors)) if lints.is_empty() => Ok(BuiltInput {
                input,
                processors,
                label: component.label.unwrap_or_default().to_owned(),
                type_name: spec.name.to_owned(),
            }),
            _ => Err(lints),
        }
    }

    /// Builds one processor.
    pub fn processor(&mut self, node: &Node) -> BuildResult<Box<dyn Processor>> {
        self.build_processor(node, false)
    }

    /// Builds one processor; `in_stage` says it is a step of a stage
    /// (pipeline, input or output processors), where strict error handling
    /// makes it skip failed messages.
    fn build_processor(&mut self, node: &Node, in_stage: bool) -> BuildResult<Box<dyn Processor>> {
        let component = self.split(node, ComponentKind::Processor)?;
        if let Some(template) = self
            .env
            .template(ComponentKind::Processor, component.type_name)
        {
            return self.with_template(template, &component, |builder, node| {
                builder.build_processor(node, in_stage)
            });
        }
        let spec = &self.env.processors[component.type_name];
        let built = (spec.build)(component.config, self)?;
        let path = format!("root.processors.{}", component.type_name);
        let observed: Box<dyn Processor> =
            Box::new(crate::runtime::observed::ObservedProcessor::new(
                built,
                self.resources.metrics(),
                self.resources.tracer().cloned(),
                component.label.unwrap_or(""),
                &path,
            ));
        // `catch` exists to see failed messages, so strict mode leaves it be.
        if in_stage && self.resources.strict_errors() && component.type_name != "catch" {
            return Ok(Box::new(crate::runtime::strict::SkipFailed::new(observed)));
        }
        Ok(observed)
    }

    /// Builds the processors of a stage (an input's, an output's or
    /// `pipeline.processors`) from a sequence node (absent = none).
    pub fn processors(&mut self, node: Option<&Node>) -> BuildResult<Vec<Box<dyn Processor>>> {
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        let nodes: Vec<Node> = self.config(node)?;
        self.stage_processor_list(&nodes)
    }

    /// Builds the processors of a stage from already split nodes. Under
    /// `error_handling.strict` a message that failed skips the remaining
    /// steps, apart from `catch` steps.
    pub fn stage_processor_list(&mut self, nodes: &[Node]) -> BuildResult<Vec<Box<dyn Processor>>> {
        self.build_processor_list(nodes, true)
    }

    /// Builds child processors (of `catch`, `try`, `switch`...) from already
    /// split nodes; they see whatever their parent hands them.
    pub fn processor_list(&mut self, nodes: &[Node]) -> BuildResult<Vec<Box<dyn Processor>>> {
        self.build_processor_list(nodes, false)
    }

    fn build_processor_list(
        &mut self,
        nodes: &[Node],
        in_stage: bool,
    ) -> BuildResult<Vec<Box<dyn Processor>>> {
        let mut lints = Vec::new();
        let mut built = Vec::with_capacity(nodes.len());
        for node in nodes {
            match self.build_processor(node, in_stage) {
                Ok(p) => built.push(p),
                Err(l) => lints.extend(l),
            }
        }
        if lints.is_empty() {
            Ok(built)
        } else {
            Err(lints)
        }
    }

    /// Builds an output, wrapping it with its sibling `processors`.
    pub fn output(&mut self, node: &Node) -> BuildResult<BuiltOutput> {
        let component = self.split(node, ComponentKind::Output)?;
        if let Some(template) = self
            .env
            .template(ComponentKind::Output, component.type_name)
        {
            return self.with_template(template, &component, Self::output);
        }
        let spec = &self.env.outputs[component.type_name];
        let mut lints = Vec::new();
        let built = (spec.build)(component.config, self).map_err(|l| lints.extend(l));
        let processors = self
            .processors(component.processors)
            .map_err(|l| lints.extend(l));
        let (Ok(mut built), Ok(processors)) = (built, processors) else {
            return Err(lints);
        };
        // Strict error handling rejects failed messages at every output that
        // writes somewhere; brokers and the other wrapping outputs leave it
        // to their children, and sync_response, drop and reject never reject
        // on the error flag (as in Benthos).
        let exempt = [
            "sync_response",
            "drop",
            "reject",
            "broker",
            "switch",
            "fallback",
            "retry",
            "drop_on",
            "reject_errored",
        ];
        if self.resources.strict_errors() && !exempt.contains(&component.type_name) {
            built.output = Arc::new(crate::runtime::output::StrictOutput::new(built.output));
        }
        if !processors.is_empty() {
            built.output = Arc::new(crate::runtime::output::ProcessedOutput::new(
                processors,
                built.output,
            ));
        }
        Ok(built)
    }

    /// Builds a cache resource from its node.
    pub fn cache(&mut self, node: &Node) -> BuildResult<Arc<dyn Cache>> {
        let component = self.split(node, ComponentKind::Cache)?;
        let spec = &self.env.caches[component.type_name];
        (spec.build)(component.config, self)
    }

    /// Builds the `buffer` section; `None` for the `none` buffer.
    pub fn buffer(&mut self, node: &Node) -> BuildResult<Option<Arc<dyn Buffer>>> {
        let component = self.split(node, ComponentKind::Buffer)?;
        let spec = &self.env.buffers[component.type_name];
        (spec.build)(component.config, self)
    }

    /// The cache resource under `label`, or a lint at `mark` when there is
    /// none.
    pub fn cache_resource(&self, label: &str, mark: Mark) -> BuildResult<Arc<dyn Cache>> {
        self.resources.cache(label).ok_or_else(|| {
            vec![Lint::error(
                mark,
                format!("cache resource '{label}' was not found"),
            )]
        })
    }

    /// Builds a rate limit resource.
    pub fn rate_limit(&mut self, node: &Node) -> BuildResult<Arc<dyn RateLimit>> {
        let component = self.split(node, ComponentKind::RateLimit)?;
        if let Some(template) = self
            .env
            .template(ComponentKind::RateLimit, component.type_name)
        {
            return self.with_template(template, &component, Self::rate_limit);
        }
        let spec = &self.env.rate_limits[component.type_name];
        (spec.build)(component.config, self)
    }

    /// Builds a use of `template` with `build`: renders the component config
    /// from the template's fields and builds that. The use's `label` names
    /// the rendered component unless the template set one; the use's
    /// sibling `processors` run after the template's for an input and
    /// before them for an output, as in Benthos.
    fn with_template<T>(
        &mut self,
        template: &Arc<Template>,
        component: &config::ComponentNode<'_>,
        build: impl FnOnce(&mut Self, &Node) -> BuildResult<T>,
    ) -> BuildResult<T> {
        let key = (component.kind, template.name());
        if self.rendering.contains(&key) {
            return Err(vec![Lint::error(
                component.type_mark,
                format!("template {} renders itself", template.name()),
            )]);
        }
        let mut rendered = template.render(component.config, component.type_mark)?;
        let NodeKind::Map(entries) = &mut rendered.kind else {
            return Err(vec![Lint::error(
                component.type_mark,
                format!("template {} did not render an object", template.name()),
            )]);
        };
        let key_is = |entry: &(Node, Node), key: &str| entry.0.as_str() == Some(key);
        if let Some(label) = component.label
            && !entries.iter().any(|e| key_is(e, "label"))
        {
            entries.push((Node::plain("label"), Node::plain(label)));
        }
        if let Some(NodeKind::Seq(extra)) = component.processors.map(|p| &p.kind) {
            match entries.iter_mut().find(|e| key_is(e, "processors")) {
                Some((_, existing)) => {
                    if let NodeKind::Seq(own) = &mut existing.kind {
                        if component.kind == ComponentKind::Output {
                            own.splice(0..0, extra.iter().cloned());
                        } else {
                            own.extend(extra.iter().cloned());
                        }
                    }
                }
                None => entries.push((
                    Node::plain("processors"),
                    Node::new(NodeKind::Seq(extra.clone()), component.type_mark),
                )),
            }
        }
        self.rendering.push(key);
        let built = build(self, &rendered);
        self.rendering.pop();
        built
    }
}
