# Source: PrefectHQ/prefect-dask prefect_dask/utils.py @ deeef59: reads the scheduler
# address through get_client() when running inside a task (clean).
from distributed import Client, get_client
from prefect.context import FlowRunContext, TaskRunContext


def _generate_client_kwargs(async_client, timeout=None, **client_kwargs):
    flow_run_context = FlowRunContext.get()
    task_run_context = TaskRunContext.get()

    if task_run_context:
        input_client_kwargs = {}
        address = get_client().scheduler.address
        asynchronous = task_run_context.task.isasync
    elif flow_run_context:
        task_runner = flow_run_context.task_runner
        input_client_kwargs = task_runner.client_kwargs
        address = task_runner._client.scheduler_info()["address"]
        asynchronous = flow_run_context.flow.isasync
    else:
        input_client_kwargs = {}
        address = None
        asynchronous = async_client

    input_client_kwargs["address"] = address
    input_client_kwargs["asynchronous"] = asynchronous
    if timeout is not None:
        input_client_kwargs["timeout"] = timeout
    input_client_kwargs.update(**client_kwargs)
    return input_client_kwargs
