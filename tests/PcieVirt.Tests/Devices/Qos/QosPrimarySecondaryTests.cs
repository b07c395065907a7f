using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Tests.Devices.Nvme;

namespace PcieVirt.Tests.Devices.Qos;

/// <summary>The PF configures QoS for itself and its VF (secondary controller 2) with Set Controller QoS (C0h).</summary>
public class QosPrimarySecondaryTests
{
    const ulong S = QosTestPlatform.Read4KServiceNs;

    sealed class Setup
    {
        public readonly SriovNvmePlatform P = new();
        public readonly ManualClock Clock = new();
        public readonly QosArbiter Arbiter;
        public readonly NvmeVirtualFunction Vf;
        public readonly NvmeDriver VfDriver;
        public readonly IWorkloadTimebase Time;

        public Setup()
        {
            Vf = P.EnableVfs()[0];
            P.Provision(2, queues: 3, interrupts: 2);
            Assert.That(P.Subsystem.Attach(2, 2), Is.EqualTo(NvmeStatus.Success));
            P.Primary.Clock = () => Clock.NowNs;
            Vf.Controller.Clock = () => Clock.NowNs;
            Arbiter = new QosArbiter(new NvmeMediaModel(1), () => Clock.NowNs);
            Arbiter.Add(P.Primary);
            Arbiter.Add(Vf.Controller);
            VfDriver = P.VfDriver(Vf, new NvmeDriverOptions { IoQueuePairs = 1 });
            VfDriver.Initialize();
            Time = new DelegateTimebase(() => Clock.NowNs, () => Arbiter.NextEventNs, t => { Clock.NowNs = Math.Max(t, Clock.NowNs); Arbiter.Run(); });
        }

        public NvmeStatus SetQos(ushort cntlid, uint iops, uint kibPerSecond, byte weight) =>
            P.PfDriver.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeController.SetControllerQosOpcode, Cdw10 = cntlid, Cdw11 = iops, Cdw12 = kibPerSecond, Cdw13 = weight }).Status;
    }

    [Test]
    public void SetControllerQos_ConfiguresThePfAndItsVf_AndRefusesOthers()
    {
        var s = new Setup();
        Assert.That(s.SetQos(2, 5_000, 8_192, 3), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Arbiter.LimitsOf(2), Is.EqualTo(new QosLimits(5_000, 8_192UL * 1024, 3)));
        Assert.That(s.SetQos(1, 0, 0, 0), Is.EqualTo(NvmeStatus.Success), "the PF may set its own; weight 0 means 1");
        Assert.That(s.Arbiter.LimitsOf(1), Is.EqualTo(QosLimits.Unlimited));
        Assert.That(s.SetQos(9, 1, 0, 1), Is.EqualTo(NvmeStatus.InvalidControllerIdentifier), "not this PF's controller");
        Assert.That(s.SetQos(3, 1, 0, 1), Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "VF2's controller exists but is not arbitrated");
        var vfStatus = s.VfDriver.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeController.SetControllerQosOpcode, Cdw10 = 2, Cdw11 = 1 }).Status;
        Assert.That(vfStatus, Is.EqualTo(NvmeStatus.InvalidCommandOpcode), "a secondary cannot set QoS");
        Assert.That(s.Arbiter.LimitsOf(2)!.Value.IopsLimit, Is.EqualTo(5_000UL));
    }

    [Test]
    public void NoisyPf_LimitedByItsOwnSetting_VfKeepsItsLatency()
    {
        var s = new Setup();
        Assert.That(s.SetQos(1, 20_000, 0, 1), Is.EqualTo(NvmeStatus.Success));
        var pf = new NvmeWorkload(s.P.PfDriver, new WorkloadOptions { IoDepth = 32, Ops = 4000, Seed = 5 }, s.Time);
        var vf = new NvmeWorkload(s.VfDriver, new WorkloadOptions { IoDepth = 1, Ops = 300, Seed = 6 }, s.Time);
        var r = NvmeWorkload.RunTogether(s.Time, pf, vf);
        Assert.That(r[0].Errors + r[1].Errors, Is.Zero);
        Assert.That(r[0].Iops, Is.InRange(19_500, 20_100), "the PF runs at the limit it set for itself");
        Assert.That(r[1].Latency.Max, Is.LessThanOrEqualTo(2 * S), "the VF waits at most for one PF command in service");
    }
}
