using PcieVirt.Hypervisor.Failover;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Hypervisor.Failover;

public class FailoverScenarioTests
{
    static PlatformModel Model() => PlatformModel.Load(ModelFiles.DeviceModel("mriov-2host.json")).GetModelOrThrow();

    static FailoverResult Run(ulong seed, int ops = 96, EventTrace? trace = null) =>
        FailoverScenario.Run(Model(), new FailoverOptions { Ops = ops, Seed = seed, IoDepth = 8, Trace = trace });

    [TestCase(1UL)]
    [TestCase(2UL)]
    [TestCase(7UL)]
    [TestCase(12345UL)]
    public void Every_acknowledged_write_reads_back_on_host_b_and_no_unit_is_torn(ulong seed)
    {
        var r = Run(seed);
        Assert.Multiple(() =>
        {
            Assert.That(r.Prefilled, Is.EqualTo(96));
            Assert.That(r.Acknowledged, Is.GreaterThan(0), "the failure comes after some acknowledgements");
            Assert.That(r.InFlightAtFailure, Is.GreaterThan(0), "the failure comes with writes in flight");
            Assert.That(r.Written, Is.LessThan(96).Or.GreaterThan(r.Acknowledged));
            Assert.That(r.LostAcknowledged, Is.Zero);
            Assert.That(r.Torn, Is.Zero, "each unit reads back whole old or whole new data");
            Assert.That(r.InFlightNew + r.InFlightOld, Is.EqualTo(r.InFlightAtFailure));
            Assert.That(r.Verified, Is.EqualTo(96));
            Assert.That(r.ReadErrors, Is.Zero);
            Assert.That(r.HostA, Is.Not.EqualTo(r.HostB));
        });
    }

    [Test]
    public void The_same_seed_gives_the_same_run_and_another_seed_another_failure_moment()
    {
        var a = Run(5);
        var b = Run(5);
        Assert.That(b, Is.EqualTo(a));
        var results = new[] { Run(6), Run(8), Run(9) };
        Assert.That(results.Select(r => (r.Written, r.FailureAtNs)).Append((a.Written, a.FailureAtNs)).Distinct().Count(), Is.GreaterThan(1));
    }

    [Test]
    public void Host_a_is_really_dead_and_host_b_keeps_its_bars_and_the_timeline_adds_up()
    {
        var r = Run(3);
        Assert.Multiple(() =>
        {
            Assert.That(r.UpstreamDropped + r.UpstreamRefused, Is.GreaterThan(0), "the device's late completions towards host A were refused");
            Assert.That(r.HostBBarsUnchanged, Is.True);
            Assert.That(r.HostBFunctionsKept, Is.GreaterThan(0));
            Assert.That(r.NewAddress, Does.StartWith("0001:"), "the PF now answers in host B's segment");
            // §6.6.1: 100 ms after the link comes up before the first configuration request.
            Assert.That(r.RescanNs, Is.GreaterThanOrEqualTo(100_000_000UL));
            Assert.That(r.FailoverNs, Is.EqualTo(r.DetectNs + r.MoveNs + r.RescanNs + r.BringUpNs + r.FirstReadNs).Within(50_000UL),
                "failure to first read = the phases plus the read (and the guest's submit cost)");
        });
    }

    [Test]
    public void The_trace_has_the_phases_and_the_ios_of_both_guests()
    {
        var trace = new EventTrace();
        var r = Run(4, ops: 32, trace: trace);
        var names = trace.Events.Select(e => e.Name).ToHashSet();
        Assert.That(names, Is.SupersetOf(new[] { "host A fails", "detect", "move", "rescan", "bring-up", "read back", "prefill write", "write", "read" }));
        Assert.That(trace.Events.Count(e => e.Track == "guest B"), Is.EqualTo(r.Verified + r.ReadErrors));
    }
}
