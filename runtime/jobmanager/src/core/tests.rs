use std::time::Instant;

use tonic::Status;
use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::{
    DeployTasks, JobManagerMessage, RegisterTaskManager, TaskState, TaskStateUpdate,
};

use super::*;

fn core() -> Core {
    Core::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        "memory:///checkpoints".into(),
    )
}

const JOB: &str = "name: j\nsource: {type: generator, count: 1}\nsink: {type: blackhole}\n";

#[test]
fn a_job_without_slots_waits_and_can_be_cancelled() {
    let core = core();
    let id = core.submit(JOB, None).unwrap();
    core.tick();
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Created));
    assert_eq!(job.status_message, "waiting for 1 task slot, 0 available");
    assert_eq!(core.cancel(&id), Some(JobState::Created));
    assert_eq!(
        core.job(&id).unwrap().job_state(),
        Some(weir_types::JobState::Canceled)
    );
}

#[test]
fn modules_are_checked_at_submission() {
    let core = core();
    let unpinned = "name: j\nsource: {type: generator}\noperators:\n  - {name: m, module: m.wasm}\nsink: {type: blackhole}\n";
    let error = core.submit(unpinned, None).unwrap_err();
    assert!(
        error.to_string().contains("operators[0] 'm' has no sha256"),
        "{error}"
    );
    let digest = core.put_module("", b"bytes".to_vec()).unwrap();
    let pinned = unpinned.replace(
        "module: m.wasm",
        &format!("module: m.wasm, sha256: {digest}"),
    );
    core.submit(&pinned, None).unwrap();
    let wrong = core
        .put_module("sha256:00", b"bytes".to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("not the sha256:00 the client sent"),
        "{wrong}"
    );
}

#[test]
fn ended_jobs_and_unneeded_modules_are_forgotten() {
    let core = core();
    let kept = core.put_module("", b"kept".to_vec()).unwrap();
    let dropped = core.put_module("", b"dropped".to_vec()).unwrap();
    let running = format!(
        "name: r\nsource: {{type: generator}}\noperators:\n  - {{name: m, module: m.wasm, sha256: {kept}}}\nsink: {{type: blackhole}}\n"
    );
    let waiting = core.submit(&running, None).unwrap();
    let first = core.submit(JOB, None).unwrap();
    core.cancel(&first);
    for _ in 0..ENDED_JOBS_KEPT {
        let id = core.submit(JOB, None).unwrap();
        core.cancel(&id);
    }
    {
        let mut state = core.lock();
        let long_ago = Instant::now()
            .checked_sub(MODULE_GRACE * 2)
            .expect("the clock reaches back");
        for module in state.modules.values_mut() {
            module.stored = long_ago;
        }
    }
    core.tick();
    assert!(
        core.job(&first).is_none(),
        "the oldest ended job is forgotten"
    );
    assert!(core.job(&waiting).is_some(), "a job still waiting is kept");
    assert_eq!(core.jobs().len(), ENDED_JOBS_KEPT + 1);
    assert!(
        core.module(&kept).is_some(),
        "a waiting job's module is kept"
    );
    assert!(core.module(&dropped).is_none());
}

/// A TaskManager that is only a queue of what the JobManager sends it.
fn fake_task_manager(
    core: &Core,
    id: &str,
    slots: u32,
) -> (u64, mpsc::Receiver<Result<JobManagerMessage, Status>>) {
    let (sender, receiver) = mpsc::channel(64);
    let registration = RegisterTaskManager {
        task_manager_id: id.into(),
        data_address: format!("{id}:1"),
        slots,
        ..RegisterTaskManager::default()
    };
    (core.register(registration, sender), receiver)
}

fn next_deploy(
    receiver: &mut mpsc::Receiver<Result<JobManagerMessage, Status>>,
) -> Option<DeployTasks> {
    while let Ok(message) = receiver.try_recv() {
        if let Ok(JobManagerMessage {
            message: Some(ToTaskManager::Deploy(deploy)),
        }) = message
        {
            return Some(deploy);
        }
    }
    None
}

fn report(core: &Core, session: u64, deploy: &DeployTasks, state: TaskState, retryable: bool) {
    for task in &deploy.tasks {
        core.task_state(
            "tm",
            session,
            TaskStateUpdate {
                task: Some(weir_proto::v1::TaskId {
                    job_id: deploy.job_id.clone(),
                    attempt: deploy.attempt,
                    vertex: task.vertex,
                    subtask: task.subtask,
                }),
                state: state as i32,
                error: "operator 'x' trapped".into(),
                failure_kind: if retryable {
                    weir_proto::v1::FailureKind::Transient
                } else {
                    weir_proto::v1::FailureKind::Configuration
                } as i32,
                ..TaskStateUpdate::default()
            },
        );
    }
}

#[test]
fn a_retryable_failure_restarts_after_the_delay_until_attempts_run_out() {
    let core = core();
    let (session, mut tm) = fake_task_manager(&core, "tm", 1);
    let spec = format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 1, delay: 1ms}}\n");
    let id = core.submit(&spec, None).unwrap();
    let first = next_deploy(&mut tm).expect("deployed at once");
    assert_eq!(first.attempt, 0);

    report(&core, session, &first, TaskState::Failed, true);
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
    assert_eq!(
        job.exceptions[0].failure_kind(),
        weir_proto::v1::FailureKind::Transient
    );
    assert!(
        job.status_message.contains("after: operator 'x' trapped"),
        "{}",
        job.status_message
    );
    std::thread::sleep(Duration::from_millis(5));
    core.tick();
    let second = next_deploy(&mut tm).expect("redeployed after the delay");
    assert_eq!(second.attempt, 1);
    assert_eq!(core.job(&id).unwrap().restarts, 1);

    // An update of the old attempt changes nothing now.
    report(&core, session, &first, TaskState::Finished, false);
    assert_eq!(
        core.job(&id).unwrap().job_state(),
        Some(weir_types::JobState::Running)
    );

    report(&core, session, &second, TaskState::Failed, true);
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Failed));
    assert!(
        job.status_message
            .contains("no restart left under fixed-delay"),
        "{}",
        job.status_message
    );
}

#[test]
fn a_failure_no_restart_can_cure_fails_the_job_at_once() {
    let core = core();
    let (session, mut tm) = fake_task_manager(&core, "tm", 1);
    let spec = format!("{JOB}restartStrategy: {{type: exponential-delay}}\n");
    let id = core.submit(&spec, None).unwrap();
    let deploy = next_deploy(&mut tm).unwrap();
    report(&core, session, &deploy, TaskState::Failed, false);
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Failed));
    assert_eq!(job.restarts, 0);
    // The history says why no restart was tried.
    assert_eq!(
        job.exceptions[0].failure_kind(),
        weir_proto::v1::FailureKind::Configuration
    );
}

#[test]
fn resources_report_waiting_slots_free_slots_and_idle_task_managers() {
    let core = core();
    let (_, _tm) = fake_task_manager(&core, "tm", 2);
    core.submit(JOB, None).unwrap();
    let wide = JOB.replace("name: j\n", "name: w\nparallelism: 3\n");
    core.submit(&wide, None).unwrap();
    let resources = core.resources();
    assert_eq!(resources.demanded_slots, 3, "the wide job waits");
    assert_eq!(resources.free_slots, 1);
    assert_eq!(resources.task_managers.len(), 1);
    assert_eq!(
        resources.task_managers[0].idle_since, None,
        "it runs a task"
    );
    assert_eq!(resources.task_managers[0].pod_name, None);

    let (_, _other) = fake_task_manager(&core, "tm-2", 2);
    let resources = core.resources();
    assert_eq!(resources.demanded_slots, 0, "the wide job runs now");
    assert_eq!(resources.free_slots, 0);
    assert!(
        !core.release_idle("tm", "test"),
        "a TaskManager running tasks is not released"
    );
}

#[test]
fn a_failed_pod_drops_its_task_manager_and_restarts_its_jobs() {
    let core = core();
    let (sender, _receiver) = mpsc::channel(64);
    core.register(
        RegisterTaskManager {
            task_manager_id: "tm".into(),
            data_address: "tm:1".into(),
            slots: 1,
            pod_name: "jm-taskmanager-1".into(),
            ..RegisterTaskManager::default()
        },
        sender,
    );
    let spec = format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 2, delay: 1h}}\n");
    let id = core.submit(&spec, None).unwrap();
    assert!(!core.task_manager_failed("jm-taskmanager-2", "pod deleted"));
    assert!(!core.task_manager_failed("", "pod deleted"));
    assert!(core.task_manager_failed("jm-taskmanager-1", "Evicted: low on memory"));
    assert!(core.task_managers().is_empty());
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
    assert!(
        job.status_message
            .contains("TaskManager tm (tm:1) was lost: its pod jm-taskmanager-1 failed: Evicted: low on memory"),
        "{}",
        job.status_message
    );
}

#[test]
fn a_lost_task_manager_restarts_its_jobs_on_the_slots_that_remain() {
    let core = core();
    let (first_session, mut first) = fake_task_manager(&core, "tm", 1);
    let spec = format!("{JOB}restartStrategy: {{type: fixed-delay, attempts: 2, delay: 1ms}}\n");
    let id = core.submit(&spec, None).unwrap();
    next_deploy(&mut first).unwrap();
    let (_, mut second) = fake_task_manager(&core, "tm-2", 1);
    core.disconnected("tm", first_session, "it closed its connection");
    let job = core.job(&id).unwrap();
    assert_eq!(job.job_state(), Some(weir_types::JobState::Restarting));
    assert!(
        job.status_message
            .contains("TaskManager tm (tm:1) was lost"),
        "{}",
        job.status_message
    );
    std::thread::sleep(Duration::from_millis(5));
    core.tick();
    let deploy = next_deploy(&mut second).expect("restarted on the other TaskManager");
    assert_eq!(deploy.attempt, 1);
}
