using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Hypervisor.Paths;

/// <summary>
/// The four I/O paths side by side on the default model: the orderings and gaps of the published
/// measurements (latency-anchors.md §9, RE-1 and RE-2), each path's exits, and the accounting.
/// </summary>
public class PathComparisonTests
{
    static readonly PlatformModel Model = PlatformModel.LoadDefault();

    static PathOptions Options(PathMedia media, int depth = 1, int ops = 200, WorkloadPattern rw = WorkloadPattern.RandRead,
        bool verify = false, TimingParameters? timing = null) => new()
    {
        Workload = new WorkloadOptions { Pattern = rw, BlockSize = 4096, IoDepth = depth, Ops = ops, Seed = 3, Verify = verify },
        Media = media,
        Timing = timing ?? new TimingParameters(),
    };

    static PathResult Run(PathKind k, PathOptions o) => PathBench.Run(k, Model, o);

    [Test]
    public void RE1_fast_drive_orders_bare_metal_vf_paravirtual_emulated()
    {
        var o = Options(PathMedia.Optane);
        var bm = Run(PathKind.BareMetal, o);
        var vf = Run(PathKind.Vf, o);
        var pv = Run(PathKind.Paravirtual, o);
        var em = Run(PathKind.Emulated, o);
        Assert.That(bm.Workload.Latency.Mean, Is.LessThan(vf.Workload.Latency.Mean));
        Assert.That(vf.Workload.Latency.Mean, Is.LessThan(pv.Workload.Latency.Mean));
        Assert.That(pv.Workload.Latency.Mean, Is.LessThan(em.Workload.Latency.Mean));
        // Published: VF x1.33, virtio-blk (IOThread) x1.69, emulated about x3.5 bare metal.
        double Ratio(PathResult r) => r.Workload.Latency.Mean / (double)bm.Workload.Latency.Mean;
        Assert.That(Ratio(vf), Is.InRange(1.05, 1.5));
        Assert.That(Ratio(pv), Is.InRange(1.4, 2.2));
        Assert.That(Ratio(em), Is.InRange(2.5, 4.0));
    }

    [Test]
    public void RE1_slow_drive_compresses_the_same_absolute_overheads()
    {
        var fast = Options(PathMedia.Optane);
        var slow = Options(PathMedia.Nand);
        double Ratio(PathOptions o) => Run(PathKind.Emulated, o).Workload.Latency.Mean / (double)Run(PathKind.BareMetal, o).Workload.Latency.Mean;
        double onNand = Ratio(slow);
        Assert.That(onNand, Is.LessThan(Ratio(fast) / 1.8));
        Assert.That(onNand, Is.InRange(1.2, 1.6)); // published: about 1.4x on a ~77 us drive
    }

    [Test]
    public void RE2_null_device_emulated_costs_about_twice_virtio_and_the_gap_widens_with_depth()
    {
        var pv1 = Run(PathKind.Paravirtual, Options(PathMedia.Null));
        var em1 = Run(PathKind.Emulated, Options(PathMedia.Null));
        double perIo = em1.Workload.Latency.Mean / (double)pv1.Workload.Latency.Mean;
        Assert.That(perIo, Is.InRange(1.9, 2.5)); // published 2-2.4x at QD1
        Assert.That(em1.ExitsPerIoByReason[ExitReason.Mmio], Is.EqualTo(2.0)); // SQ tail + CQ head doorbells (perf kvm: 2.01)
        Assert.That(pv1.ExitsPerIoByReason[ExitReason.Mmio], Is.Zero);
        Assert.That(pv1.ExitsPerIoByReason[ExitReason.Kick], Is.LessThanOrEqualTo(1.0));

        var pv4 = Run(PathKind.Paravirtual, Options(PathMedia.Null, depth: 4, ops: 400));
        var em4 = Run(PathKind.Emulated, Options(PathMedia.Null, depth: 4, ops: 400));
        Assert.That(pv4.Iops / em4.Iops, Is.GreaterThan(pv1.Iops / em1.Iops * 1.2));
        // Event index: with requests in flight the backend is already looking; fewer kicks than requests.
        Assert.That(pv4.ExitsPerIoByReason[ExitReason.Kick], Is.LessThan(0.6));
    }

    [TestCase(PathKind.BareMetal)]
    [TestCase(PathKind.Vf)]
    [TestCase(PathKind.Paravirtual)]
    [TestCase(PathKind.Emulated)]
    public void Each_path_reads_back_every_byte_written_at_depth(PathKind kind)
    {
        var r = Run(kind, Options(PathMedia.Nand, depth: 8, ops: 400, rw: WorkloadPattern.RandRw, verify: true));
        Assert.That(r.Workload.Errors, Is.Zero);
        Assert.That(r.Workload.VerifyMismatches, Is.Zero);
        Assert.That(r.Workload.Ops, Is.EqualTo(400));
    }

    [TestCase(PathKind.Vf)]
    [TestCase(PathKind.Paravirtual)]
    [TestCase(PathKind.Emulated)]
    public void Breakdown_sums_to_latency_and_runs_are_deterministic(PathKind kind)
    {
        var o = Options(PathMedia.Optane, depth: 2, ops: 300, rw: WorkloadPattern.RandRw);
        var a = Run(kind, o);
        var b = Run(kind, o);
        Assert.That(a.MeanLatencyNs, Is.EqualTo((double)a.Workload.Latency.Mean).Within(1.0));
        Assert.That(b.Workload.Latency, Is.EqualTo(a.Workload.Latency));
        Assert.That(b.BreakdownNs, Is.EqualTo(a.BreakdownNs));
        Assert.That(b.HostCpuNsPerIo, Is.EqualTo(a.HostCpuNsPerIo));
    }

    [Test]
    public void Vf_path_has_no_mmio_exits_and_far_less_host_cpu_than_emulation()
    {
        var o = Options(PathMedia.Optane);
        var vf = Run(PathKind.Vf, o);
        var em = Run(PathKind.Emulated, o);
        Assert.That(vf.ExitsPerIoByReason[ExitReason.Mmio], Is.Zero);
        Assert.That(vf.Counters["iommu_faults"], Is.Zero);
        Assert.That(vf.Counters["interrupts_posted"], Is.EqualTo(vf.Workload.Ops).Within(1));
        Assert.That(vf.Counters["iotlb_hits"], Is.GreaterThan(0));
        Assert.That(vf.HostCpuNsPerIo, Is.LessThan(em.HostCpuNsPerIo / 5));
        // The emulated path decoded real instruction bytes for every exit, and rejected none.
        Assert.That(em.Counters["instructions_emulated"], Is.EqualTo(em.Counters["mmio_exits"]));
        Assert.That(em.Counters["instructions_rejected"], Is.Zero);
    }

    [Test]
    public void Without_posted_interrupts_or_apicv_the_vf_pays_injection_and_eoi_exits()
    {
        var posted = Run(PathKind.Vf, Options(PathMedia.Optane));
        var t = new TimingParameters().With(TimingParameter.PostedInterrupts, 0).With(TimingParameter.Apicv, 0);
        var legacy = Run(PathKind.Vf, Options(PathMedia.Optane, timing: t));
        Assert.That(legacy.ExitsPerIoByReason[ExitReason.Eoi], Is.EqualTo(1.0));
        Assert.That(posted.ExitsPerIoByReason[ExitReason.Eoi], Is.Zero);
        Assert.That(legacy.Counters["interrupts_posted"], Is.Zero);
        ulong extra = t[TimingParameter.InterruptInjection] + t[TimingParameter.EoiExit];
        Assert.That(legacy.Workload.Latency.Mean - posted.Workload.Latency.Mean, Is.EqualTo(extra).Within(2));
    }

    [Test]
    public void A_timing_parameter_from_the_table_moves_exactly_the_steps_that_use_it()
    {
        var baseline = Run(PathKind.Emulated, Options(PathMedia.Optane));
        var t = new TimingParameters().With(TimingParameter.VmExitRoundTrip, 800);
        var slower = Run(PathKind.Emulated, Options(PathMedia.Optane, timing: t));
        // Two MMIO exits per I/O, 150 ns more each.
        Assert.That(slower.Workload.Latency.Mean - baseline.Workload.Latency.Mean, Is.EqualTo(300UL).Within(1));
        Assert.That(slower.BreakdownNs[IoComponent.VmExit] - baseline.BreakdownNs[IoComponent.VmExit], Is.EqualTo(300.0).Within(1.0));
    }
}
