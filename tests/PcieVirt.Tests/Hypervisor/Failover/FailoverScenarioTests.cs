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
}
