using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Media;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Hypervisor.Paths;

public class BareMetalPathTests
{
    static readonly PlatformModel Model = PlatformModel.LoadDefault();

    static PathOptions Options(int depth = 1, int ops = 200, WorkloadPattern rw = WorkloadPattern.RandRead, bool verify = false, PathMedia? media = null) => new()
    {
        Workload = new WorkloadOptions { Pattern = rw, BlockSize = 4096, IoDepth = depth, Ops = ops, Seed = 7, Verify = verify },
        Media = media,
    };

    [Test]
    public void Breakdown_of_each_io_sums_to_its_latency()
    {
        var r = PathBench.Run(PathKind.BareMetal, Model, Options());
        Assert.That(r.Workload.Ops, Is.EqualTo(200));
        Assert.That(r.Workload.Errors, Is.Zero);
        // The mean of the per-component means is the mean latency (each I/O's row sums to its latency).
        Assert.That(r.MeanLatencyNs, Is.EqualTo((double)r.Workload.Latency.Mean).Within(1.0));
        // QD1: nothing waits for a busy CPU, so no time is left unexplained.
        Assert.That(r.BreakdownNs[IoComponent.Waiting], Is.LessThan(1.0));
    }

    [Test]
    public void Bare_metal_has_no_exits_and_takes_no_hypervisor_time()
    {
        var r = PathBench.Run(PathKind.BareMetal, Model, Options());
        Assert.That(r.ExitsPerIo, Is.Zero);
        Assert.That(r.HostCpuNsPerIo, Is.Zero);
        // One doorbell write to submit and one CQ head write per I/O (the last CQ head write may still be in flight).
        Assert.That(r.Counters["doorbell_writes"], Is.InRange(399, 400));
    }

    [Test]
    public void Latency_is_the_os_stack_plus_device_time()
    {
        var t = new TimingParameters();
        var r = PathBench.Run(PathKind.BareMetal, Model, Options());
        ulong stack = t[TimingParameter.OsIoSubmit] + t[TimingParameter.OsIoComplete];
        Assert.That(r.BreakdownNs[IoComponent.GuestStack], Is.EqualTo((double)stack).Within(0.5));
        Assert.That(r.BreakdownNs[IoComponent.Controller], Is.EqualTo((double)t[TimingParameter.ControllerFirmware]).Within(0.5));
        // NAND media (77 us class) dominates the default model's drives.
        Assert.That(r.BreakdownNs[IoComponent.Media], Is.InRange(60_000.0, 100_000.0));
    }

    [Test]
    public void Same_model_and_seed_give_bit_identical_results()
    {
        var a = PathBench.Run(PathKind.BareMetal, Model, Options(depth: 4, ops: 300, rw: WorkloadPattern.RandRw));
        var b = PathBench.Run(PathKind.BareMetal, Model, Options(depth: 4, ops: 300, rw: WorkloadPattern.RandRw));
        Assert.That(b.Workload.Latency, Is.EqualTo(a.Workload.Latency));
        Assert.That(b.Workload.ElapsedNs, Is.EqualTo(a.Workload.ElapsedNs));
        Assert.That(b.BreakdownNs, Is.EqualTo(a.BreakdownNs));
    }

    [Test]
    public void Verified_mixed_workload_at_depth_reads_back_every_byte()
    {
        var r = PathBench.Run(PathKind.BareMetal, Model, Options(depth: 8, ops: 400, rw: WorkloadPattern.RandRw, verify: true));
        Assert.That(r.Workload.Errors, Is.Zero);
        Assert.That(r.Workload.VerifyMismatches, Is.Zero);
        Assert.That(r.Workload.Ops, Is.EqualTo(400));
    }

    [Test]
    public void Faster_media_gives_lower_latency_and_deeper_queues_more_iops()
    {
        var nand = PathBench.Run(PathKind.BareMetal, Model, Options(media: PathMedia.Nand));
        var optane = PathBench.Run(PathKind.BareMetal, Model, Options(media: PathMedia.Optane));
        Assert.That(optane.Workload.Latency.Mean, Is.LessThan(nand.Workload.Latency.Mean / 3));
        var deep = PathBench.Run(PathKind.BareMetal, Model, Options(depth: 8, media: PathMedia.Nand));
        Assert.That(deep.Iops, Is.GreaterThan(nand.Iops * 2));
    }
}
