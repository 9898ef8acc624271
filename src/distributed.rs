//! Running convlake's statements across machines, on datafusion-distributed: the coordinator
//! (any command that opens a session: `sql`, `report`, `aggregate`, `details`, `serve`) plans
//! as on one machine, with convlake's tables, pruning and rewrites, and the distributed
//! planner then cuts the physical plan into stages whose tasks run on `convlake worker`
//! processes, streaming Arrow between them over gRPC.
//!
//! What this module owns:
//! - the cluster a process was pointed at ([`configure`]: `--workers` / `$CONVLAKE_WORKERS`
//!   and the shared secret), and turning a session into one that distributes ([`distribute`]);
//! - the worker ([`serve_worker`]): convlake's functions and the lake's object store in every
//!   session it builds, a memory pool of its own, and no plan run for a client that does not
//!   send the shared secret (checked on every request, coordinator's or other worker's);
//! - `EXPLAIN` of a distributed plan ([`explain`]), which DataFusion's own `EXPLAIN` does not
//!   show.
//!
//! Workers need no table provider: the plans they get name the files to read and the store
//! URL they are in, and each worker opens the same lake location itself (an object store, or
//! a path every machine sees).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    grpc, ChannelResolver, CoordinatorToWorkerMsg, DistributedExt, ExecuteTaskRequest,
    GetWorkerInfoRequest, GetWorkerInfoResponse, SessionStateBuilderExt, SetPlanRequest, Worker,
    WorkerChannel, WorkerQueryContext, WorkerResolver, WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use url::Url;

use crate::error::{Error, Result};
use crate::storage::Lake;

/// The header every request between coordinator and workers carries the secret in.
const SECRET_HEADER: &str = "x-convlake-worker-secret";

/// Shortest secret accepted: a guessable one would make the port an open door.
const MIN_SECRET_LEN: usize = 16;

/// Largest gRPC message a worker decodes (plans, and batches from other workers).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// The shared secret of a cluster (never printed: `Debug` shows its length only).
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// The secret from `--secret-file` (its first line) or else `$CONVLAKE_WORKER_SECRET`.
    pub fn load(file: Option<&std::path::Path>) -> Result<Secret> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::io("cannot read the secret file", path, e))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
            None => std::env::var("CONVLAKE_WORKER_SECRET").unwrap_or_default(),
        };
        if text.len() < MIN_SECRET_LEN {
            return Err(Error::Usage(format!(
                "workers need a shared secret of at least {MIN_SECRET_LEN} characters, the same on the coordinator and every worker: set CONVLAKE_WORKER_SECRET (or --worker-secret-file FILE), for example to the output of `openssl rand -hex 32`"
            )));
        }
        Ok(Secret(text.into()))
    }

    /// Whether `given` is the secret, in time independent of where they differ.
    fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        want.len() == given.len() && want.iter().zip(given).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
    }
}

/// The workers this process runs statements on, and the secret they share.
#[derive(Debug, Clone)]
pub struct Cluster {
    workers: Vec<Url>,
    secret: Secret,
    /// Bytes of files each partition of a distributed scan reads (smaller: more tasks).
    partition_bytes: Option<usize>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// Points this process at `workers` (`host:port` or `http://host:port`, as `convlake worker`
/// prints them): every session opened from now on runs its statements across them.
pub fn configure(workers: &[String], secret: Secret) -> Result<()> {
    let workers = workers
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let text = if w.contains("://") {
                w.to_string()
            } else {
                format!("http://{w}")
            };
            Url::parse(&text)
                .ok()
                .filter(|u| u.scheme() == "http" && u.host().is_some() && u.port().is_some())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--workers {w}: not a worker address; give host:port as `convlake worker` prints it, e.g. 10.0.0.5:7100"
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    if workers.is_empty() {
        return Ok(());
    }
    let partition_bytes = match std::env::var("CONVLAKE_WORKER_PARTITION_BYTES") {
        Ok(text) => Some(text.parse().map_err(|_| {
            Error::Usage(format!(
                "CONVLAKE_WORKER_PARTITION_BYTES={text}: give a number of bytes"
            ))
        })?),
        Err(_) => None,
    };
    let cluster = Cluster {
        workers,
        secret,
        partition_bytes,
    };
    CLUSTER
        .set(cluster)
        .map_err(|_| Error::Internal("the workers were configured twice".into()))
}

/// The cluster [`configure`] set, if any.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get()
}

/// `ctx` as a session whose statements run across the configured workers (`ctx` itself when
/// none are configured). Tables, functions and settings stay; only the planner changes.
pub fn distribute(ctx: SessionContext) -> Result<SessionContext> {
    let Some(cluster) = cluster() else {
        return Ok(ctx);
    };
    let mut builder = SessionStateBuilder::new_from_existing(ctx.state())
        .with_distributed_worker_resolver(Workers(cluster.workers.clone()))
        .with_distributed_channel_resolver(Channels::new(cluster.secret.clone()))
        .with_distributed_planner();
    if let Some(bytes) = cluster.partition_bytes {
        builder = builder
            .with_distributed_file_scan_config_bytes_per_partition(bytes)
            .map_err(Error::DataFusion)?;
    }
    Ok(SessionContext::new_with_state(builder.build()))
}

/// The stages of a distributed plan and the workers they run on, for `EXPLAIN`.
pub fn explain(plan: &dyn ExecutionPlan) -> Option<String> {
    let cluster = cluster()?;
    let workers: Vec<String> = cluster
        .workers
        .iter()
        .map(|u| u.authority().to_string())
        .collect();
    let stages = datafusion_distributed::display_plan_ascii(plan, false);
    Some(format!(
        "workers: {} (a stage's tasks are spread over them in turn)\n{stages}",
        workers.join(", ")
    ))
}

/// The fixed list of workers.
#[derive(Clone)]
struct Workers(Vec<Url>);

impl WorkerResolver for Workers {
    fn get_urls(&self) -> std::result::Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

/// Connections to workers that send the secret with every request.
#[derive(Clone)]
struct Channels {
    inner: grpc::DefaultChannelResolver,
    secret: http::HeaderValue,
}

impl Channels {
    fn new(secret: Secret) -> Channels {
        let mut secret = http::HeaderValue::from_str(&secret.0)
            .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
        secret.set_sensitive(true);
        Channels {
            inner: grpc::DefaultChannelResolver::default(),
            secret,
        }
    }
}

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(
        &self,
        url: &Url,
    ) -> std::result::Result<Box<dyn WorkerChannel>, DataFusionError> {
        let channel = self.inner.get_channel(url).await.map_err(|e| {
            DataFusionError::Execution(format!(
                "worker {} cannot be reached ({e}): check that `convlake worker` runs there and that --workers names it",
                url.authority()
            ))
        })?;
        let secret = self.secret.clone();
        let channel = tower::ServiceBuilder::new()
            .map_request(move |mut request: http::Request<tonic::body::Body>| {
                request.headers_mut().insert(SECRET_HEADER, secret.clone());
                request
            })
            .service(channel);
        Ok(Box::new(Named {
            inner: grpc::create_worker_client(grpc::BoxCloneSyncChannel::new(channel)),
            worker: Arc::from(url.authority()),
        }))
    }
}

/// A connection to one worker whose network failures (the worker stopped, the connection
/// broke mid-stream) name the worker and say what to do; errors the worker itself reported
/// pass as they are.
struct Named {
    inner: Box<dyn WorkerChannel>,
    worker: Arc<str>,
}

/// `error` of a request to `worker`, as [`Named`] says.
fn named(worker: &str, error: DataFusionError) -> DataFusionError {
    use tonic::Code;
    let lost =
        match &error {
            DataFusionError::External(source) => source
                .downcast_ref::<tonic::Status>()
                .is_some_and(|status| {
                    matches!(
                        status.code(),
                        Code::Unavailable
                            | Code::Unknown
                            | Code::Cancelled
                            | Code::Aborted
                            | Code::Internal
                            | Code::DataLoss
                            | Code::DeadlineExceeded
                    )
                }),
            _ => false,
        };
    if !lost {
        return error;
    }
    DataFusionError::Execution(format!(
        "worker {worker} stopped answering during the statement ({error}); nothing was answered: run the statement again once `convlake worker` runs there, or with --workers naming only the workers that run"
    ))
}

#[async_trait]
impl WorkerChannel for Named {
    async fn coordinator_channel(
        &mut self,
        headers: http::HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> std::result::Result<
        BoxStream<'static, std::result::Result<WorkerToCoordinatorMsg, DataFusionError>>,
        DataFusionError,
    > {
        let worker = self.worker.clone();
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(|e| named(&worker, e))?;
        Ok(stream.map_err(move |e| named(&worker, e)).boxed())
    }

    async fn execute_task(
        &mut self,
        headers: http::HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> std::result::Result<
        Vec<BoxStream<'static, std::result::Result<RecordBatch, DataFusionError>>>,
        DataFusionError,
    > {
        let worker = self.worker.clone();
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(|e| named(&worker, e))?;
        Ok(streams
            .into_iter()
            .map(|stream| {
                let worker = worker.clone();
                stream.map_err(move |e| named(&worker, e)).boxed()
            })
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> std::result::Result<GetWorkerInfoResponse, DataFusionError> {
        let worker = self.worker.clone();
        self.inner
            .get_worker_info(request)
            .await
            .map_err(|e| named(&worker, e))
    }
}

/// Settings of a worker process.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Where to listen (127.0.0.1 unless told otherwise).
    pub listen: SocketAddr,
    /// The shared secret clients must send.
    pub secret: Secret,
    /// Memory the worker's tasks may hold together (spilling or failing beyond it).
    pub memory_bytes: usize,
}

/// Runs a worker for `lake` until the process is stopped; says the address it listens on in
/// its first line on stderr.
pub async fn serve_worker(lake: &Lake, options: WorkerOptions) -> Result<()> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(options.memory_bytes)))
        .build_arc()
        .map_err(Error::DataFusion)?;
    // The lake's store (with its retired files, for statements that outlive a commit) in
    // the runtime every session of the worker shares.
    lake.register(&SessionContext::new_with_config_rt(
        Default::default(),
        runtime.clone(),
    ));
    let channels = Channels::new(options.secret.clone());
    let worker = Worker::from_session_builder(move |query: WorkerQueryContext| {
        let channels = channels.clone();
        async move {
            let state = query
                .builder
                .with_distributed_channel_resolver(channels)
                .build();
            let mut ctx = SessionContext::new_with_state(state);
            crate::catalog::register_functions(&mut ctx)
                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
            // The PostgreSQL server's compatibility functions, for its sessions' plans.
            for udf in crate::postgres::compat::udfs() {
                ctx.register_udf(udf);
            }
            Ok(ctx.state())
        }
    })
    .with_runtime_env(runtime)
    .with_max_message_size(MAX_MESSAGE_BYTES);
    let secret = options.secret.clone();
    let check = move |request: tonic::Request<()>| {
        let given = request.metadata().get(SECRET_HEADER).map(|v| v.as_bytes());
        match given {
            Some(given) if secret.matches(given) => Ok(request),
            _ => Err(tonic::Status::unauthenticated(
                "this convlake worker runs plans only for clients with its shared secret (CONVLAKE_WORKER_SECRET)",
            )),
        }
    };
    let service =
        tonic::service::interceptor::InterceptedService::new(worker.into_worker_server(), check);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.listen)))?;
    eprintln!(
        "convlake worker listening on {addr} (lake {}); coordinators: --workers {addr}",
        lake.describe("").display()
    );
    tonic::transport::Server::builder()
        .timeout(std::time::Duration::from_secs(3600))
        .add_service(service)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|e| Error::Usage(format!("the worker on {addr} stopped: {e}")))
}
