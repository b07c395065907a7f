using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// An NVMe controller in timed mode as a source of events: it posts completions when they are due, and
/// (under a QoS arbiter) fetches commands when the arbiter's tokens allow.
/// </summary>
public sealed class ControllerTimer(NvmeController controller) : ITimedSource
{
    /// <inheritdoc/>
    public ulong NextEventNs => controller.Arbiter is QosArbiter a
        ? Math.Min(controller.NextCompletionNs, a.NextEventNs)
        : controller.NextCompletionNs;

    /// <inheritdoc/>
    public void RunDue()
    {
        if (controller.Arbiter is QosArbiter a) a.Run();
        else controller.ProcessPending();
    }
}
