using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// The reference: the host OS's NVMe driver on the RAID controller's PF, no hypervisor. A request costs the
/// OS's submit path, a posted doorbell write, the device (DMA, firmware, media), the MSI's flight and the
/// OS's interrupt and completion path.
/// </summary>
internal static class BareMetalPath
{
    public static PathSession Open(PlatformModel model, PathOptions o)
    {
        var b = BenchHost.Boot(model, o);
        var t = o.Timing;
        if (!b.Device.AttachmentsOf(b.Device.Engine.FindVolume(b.Volume)!).Contains(0))
        {
            var r = b.Device.Attach(b.Volume, 0);
            if (!r.IsSuccess) throw new InvalidOperationException($"attaching {b.Volume} to the PF: {r.Error}");
        }
        var bus = b.HostBus(b.PfAddress);
        var driver = b.PfDriver(bus, b.HostAllocator(), Math.Max(64, o.Workload.IoDepth + 1));
        uint nsid = b.Device.NamespaceOf(b.Device.Engine.FindVolume(b.Volume)!);
        var fe = new NvmeFrontend("baremetal", driver, bus, o.Workload.IoDepth, o.Workload.BlockSize, nsid);
        var controller = b.Device.Primary;
        b.Time(controller);
        var breakdown = new LatencyBreakdown(o.Workload.IoDepth);
        var cpu = new CpuTimeline(new SerialActor("cpu0", isHostCpu: false), breakdown);
        fe.ChargeDeviceTime(breakdown, t[TimingParameter.ControllerFirmware]);
        controller.Observer = fe;
        var w = new BlockWorkload(b.Engine, cpu, fe, o.Workload, t);
        w.Progress = o.Progress;
        byte vector = driver.IoQueue(1).HostVector;
        ulong flight = t[TimingParameter.PostedWriteLatency];
        b.RootComplex.InterruptController.MessageReceived += msg =>
        {
            if (msg.Vector != vector) return;
            // The MSI crosses the link; the OS's interrupt entry is part of its completion path.
            cpu.HoldPending(IoComponent.Link, flight, false, b.Engine.Now);
            w.RunAt(b.Engine.Now + flight);
        };
        cpu.Trace = fe.Trace = o.Trace;
        w.MeasurementStarted += () => { cpu.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.BareMetal, b.Engine, w, cpu, [], () => new Dictionary<string, long>
        {
            ["doorbell_writes"] = b.Posted.Delivered,
            ["interrupts"] = b.RootComplex.InterruptController.CountForVector(vector),
        }, () => "bare-metal run stalled: requests outstanding but nothing scheduled");
    }
}
