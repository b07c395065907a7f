using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Paths;

public class PathSessionTests
{
    static readonly PlatformModel Model = PlatformModel.LoadDefault();

    static PathOptions Options(int depth = 1, int ops = 200, WorkloadPattern rw = WorkloadPattern.RandRead, bool verify = false) => new()
    {
        Workload = new WorkloadOptions { Pattern = rw, BlockSize = 4096, IoDepth = depth, Ops = ops, Seed = 7, Verify = verify },
    };

    static IEnumerable<PathKind> Paths => Enum.GetValues<PathKind>();

    [TestCaseSource(nameof(Paths))]
    public void Run_gives_what_PathBench_Run_gives(PathKind kind)
    {
        var direct = PathBench.Run(kind, Model, Options(depth: 4, rw: WorkloadPattern.RandRw));
        var session = PathBench.Open(kind, Model, Options(depth: 4, rw: WorkloadPattern.RandRw)).Run();
        Assert.That(session.Workload.Latency, Is.EqualTo(direct.Workload.Latency));
        Assert.That(session.Workload.ElapsedNs, Is.EqualTo(direct.Workload.ElapsedNs));
        Assert.That(session.BreakdownNs, Is.EqualTo(direct.BreakdownNs));
        Assert.That(session.Counters, Is.EqualTo(direct.Counters));
    }

    [TestCaseSource(nameof(Paths))]
    public void RunOps_measures_a_new_phase_on_the_same_system(PathKind kind)
    {
        // Verified: the prefilled region stays valid, so every byte the later phase reads is checked too.
        var s = PathBench.Open(kind, Model, Options(depth: 4, ops: 200, rw: WorkloadPattern.RandRw, verify: true));
        var first = s.Run();
        s.RunOps(300);
        var second = s.Result();
        Assert.That(first.Workload.Ops, Is.EqualTo(200));
        Assert.That(second.Workload.Ops, Is.EqualTo(300));
        Assert.That(second.Workload.Errors, Is.Zero);
        Assert.That(second.Workload.VerifyMismatches, Is.Zero);
        Assert.That(second.Workload.ElapsedNs, Is.GreaterThan(0UL));
        // The same path in steady state: the mean latency stays within a factor of the first phase's.
        Assert.That((double)second.Workload.Latency.Mean, Is.InRange(first.Workload.Latency.Mean / 2.0, first.Workload.Latency.Mean * 2.0));
    }

    [Test]
    public void RunOps_before_Run_and_Run_twice_are_refused()
    {
        var s = PathBench.Open(PathKind.BareMetal, Model, Options());
        Assert.That(() => s.RunOps(10), Throws.InvalidOperationException);
        s.Run();
        Assert.That(() => s.Run(), Throws.InvalidOperationException);
        Assert.That(() => s.RunOps(0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    static IEnumerable<TestCaseData> Workloads() =>
        Paths.SelectMany(k => new[]
        {
            new TestCaseData(k, 1, WorkloadPattern.RandRead).SetArgDisplayNames(k.Key(), "qd1", "randread"),
            new TestCaseData(k, 4, WorkloadPattern.RandRw).SetArgDisplayNames(k.Key(), "qd4", "randrw"),
        });

    [TestCaseSource(nameof(Workloads))]
    public void Steady_state_io_allocates_nothing(PathKind kind, int depth, WorkloadPattern rw)
    {
        var s = PathBench.Open(kind, Model, Options(depth, rw: rw));
        s.Run();
        s.RunOps(3000); // warm-up: JIT tiering, queues and tables grown to their peak
        long few = Allocations.SteadyState(() => s.RunOps(100));
        long many = Allocations.SteadyState(() => s.RunOps(1000));
        TestContext.Out.WriteLine($"{kind} qd{depth} {rw}: 100 ops {few} B, 1000 ops {many} B");
        // Two op counts: an allocation per simulated I/O would grow with the count.
        Assert.That(many, Is.Zero, $"1000 I/Os allocated {many} bytes (100 I/Os: {few})");
        Assert.That(few, Is.Zero);
    }
}
