use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use weir_types::Digest;

use crate::bindings::aggregate::AggregateFunctionPre;
use crate::bindings::{Operator, OperatorPre};
use crate::error::LoadError;
use crate::guest_output::LogLimits;
use crate::store::StoreState;

/// How the engine is sized. One engine serves a whole process (a
/// TaskManager, or `weir run`).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Operator instances that may exist at once; sizes the pooling allocator.
    pub max_instances: u32,
    /// The largest memory limit any one instance may be given.
    pub max_instance_memory: u64,
    /// Granularity of call deadlines.
    pub epoch_tick: Duration,
    /// WebAssembly stack per call.
    pub max_wasm_stack: usize,
    /// Where compiled components are kept between runs, by sha256 and engine
    /// configuration. `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How much each instance may log.
    pub log_limits: LogLimits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 128,
            max_instance_memory: 4 << 30,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 1 << 20,
            cache_dir: None,
            log_limits: LogLimits::default(),
        }
    }
}

/// Advances the engine's epoch so that call deadlines can fire.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The WebAssembly side of a process: engine, linker and compile cache.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<StoreState>,
    config: EngineConfig,
    modules: Mutex<HashMap<Digest, Arc<Module>>>,
    _ticker: EpochTicker,
}

impl WasmHost {
    pub fn new(config: EngineConfig) -> Result<Self, LoadError> {
        let engine_error = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        let instances = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        // Components hold several core instances, memories and tables (a
        // Python component has a dozen); size the pool for the worst usual case.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(32))
            .total_memories(instances.saturating_mul(4))
            .total_tables(instances.saturating_mul(32))
            .max_memory_size(usize::try_from(config.max_instance_memory).unwrap_or(usize::MAX));

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(engine_error)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        Operator::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(engine_error)?;

        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| LoadError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(WasmHost {
            engine,
            linker,
            config,
            modules: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Loads the component in the file at `path`; `module` names it in errors.
    pub fn load_file(
        &self,
        module: &str,
        path: &Path,
        expected: Option<&str>,
    ) -> Result<Arc<Module>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            module: module.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
        self.load(module, &bytes, expected)
    }

    /// Compiles (or finds in the cache) and type-checks a component.
    /// `expected` is a sha256 (hex, optionally prefixed `sha256:`) the bytes
    /// must have.
    pub fn load(
        &self,
        module: &str,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Arc<Module>, LoadError> {
        let digest = Digest::of(bytes);
        if let Some(expected) = expected {
            let pinned = Digest::parse(expected);
            if pinned.as_ref().ok() != Some(&digest) {
                return Err(LoadError::DigestMismatch {
                    module: module.to_string(),
                    expected: pinned.map_or_else(|_| expected.to_string(), |d| d.to_string()),
                    actual: digest.to_string(),
                });
            }
        }
        if let Some(found) = self.lock_modules().get(&digest) {
            return Ok(found.clone());
        }
        check_header(module, bytes)?;
        let component = self.compile(module, bytes, &digest)?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            module: module.to_string(),
            detail: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        // An operator, or else an aggregate function; the error names what
        // an operator lacks, the usual mistake.
        let world = match OperatorPre::new(pre.clone()) {
            Ok(operator) => World::Operator(operator),
            Err(not_operator) => match AggregateFunctionPre::new(pre) {
                Ok(aggregate) => World::Aggregate(aggregate),
                Err(_) => return Err(wrong_world(not_operator)),
            },
        };
        let loaded = Arc::new(Module {
            digest,
            world,
            epoch_tick: self.config.epoch_tick,
            max_memory: self.config.max_instance_memory,
            log_limits: self.config.log_limits,
        });
        self.lock_modules().insert(digest, loaded.clone());
        Ok(loaded)
    }

    /// A module this host has already compiled, by its digest
    /// (`sha256:<hex>`, the prefix optional); `None` for anything else.
    pub fn loaded(&self, digest: &str) -> Option<Arc<Module>> {
        let digest = Digest::parse(digest).ok()?;
        self.lock_modules().get(&digest).cloned()
    }

    fn lock_modules(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Module>>> {
        self.modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn compile(&self, module: &str, bytes: &[u8], digest: &Digest) -> Result<Component, LoadError> {
        let cached = self.cache_path(digest);
        if let Some(path) = &cached {
            if path.exists() {
                // SAFETY: the file was written by `Component::serialize` of an
                // engine with the same compatibility hash (it is in the file
                // name, and wasmtime checks it again), into the user's own
                // cache directory, and renamed into place only when complete.
                #[allow(unsafe_code)]
                let deserialized = unsafe { Component::deserialize_file(&self.engine, path) };
                match deserialized {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "ignoring unusable compile cache entry: {e:#}")
                    }
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid {
            module: module.to_string(),
            detail: format!("{e:#}"),
        })?;
        tracing::debug!(module, %digest, elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");
        if let Some(path) = cached {
            if let Err(e) = write_cache_entry(&path, &component) {
                tracing::warn!(path = %path.display(), "cannot write compile cache entry: {e}");
            }
        }
        Ok(component)
    }

    fn cache_path(&self, digest: &Digest) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        Some(dir.join(format!("{}-{:016x}.cwasm", digest.hex(), hasher.finish())))
    }
}

fn write_cache_entry(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Tells a core module, a component and something else apart before
/// compiling, so the error can say which it is.
fn check_header(module: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        let head: String = bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(LoadError::NotWasm {
            module: module.to_string(),
            head: if head.is_empty() {
                "nothing: the file is empty".to_string()
            } else {
                format!("bytes {head}")
            },
        });
    }
    // Version 1, layer 0 is a core module; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::NotAComponent {
            module: module.to_string(),
        });
    }
    Ok(())
}

/// What a component implements.
pub(crate) enum World {
    Operator(OperatorPre<StoreState>),
    Aggregate(AggregateFunctionPre<StoreState>),
}

/// A compiled, linked component (an operator or an aggregate function),
/// shared by all its instances.
pub struct Module {
    digest: Digest,
    pub(crate) world: World,
    pub(crate) epoch_tick: Duration,
    pub(crate) max_memory: u64,
    pub(crate) log_limits: LogLimits,
}

impl Module {
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether the component is an aggregate function rather than an operator.
    pub fn is_aggregate(&self) -> bool {
        matches!(self.world, World::Aggregate(_))
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("digest", &self.digest)
            .finish()
    }
}
