using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>The CC.EN / CSTS.RDY handshake, controller reset, shutdown and CC validation (NVMe Base 1.4 §3.1.5-6, §7.3, §7.6).</summary>
[TestFixture]
public class NvmeEnableTests
{
    const uint CcIoEntries = 6u << 16 | 4u << 20;

    static NvmeDriver Prepared(NvmeTestPlatform p)
    {
        var d = p.Driver();
        d.MapFunction();
        d.ConfigureAdminQueue();
        return d;
    }

    [Test]
    public void Enable_RdyFollowsAfterTheModelledDelay_InVirtualTime()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { ReadyDelayNs = 2_000_000 });
        var d = Prepared(p);
        d.Write32(NvmeRegisters.Cc, 1 | CcIoEntries);
        Assert.That(d.Read32(NvmeRegisters.Csts) & 1, Is.Zero, "not ready at once");
        p.Clock.Advance(1_999_999);
        Assert.That(d.Read32(NvmeRegisters.Csts) & 1, Is.Zero);
        p.Clock.Advance(1);
        Assert.That(d.Read32(NvmeRegisters.Csts), Is.EqualTo(1u), "RDY=1, CFS=0, SHST=00b");
    }

    [Test]
    public void Driver_WaitsForRdy_WithinCapTo()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { ReadyDelayNs = 7_300_000 });
        var d = Prepared(p);
        d.EnableController();
        Assert.That(p.Clock.NowNs, Is.GreaterThanOrEqualTo(7_300_000UL));
        Assert.That(p.Controller.IsReady, Is.True);
    }

    [Test]
    public void ReadyDelayBeyondCapTo_IsRejected()
    {
        var o = new NvmeControllerOptions { TimeoutUnits = 1, ReadyDelayNs = 500_000_001 };
        Assert.That(o.Validate(), Does.Contain("CAP.TO"));
        Assert.Throws<ArgumentException>(() => new NvmeController(o, new NvmeSubsystem()));
    }

    [Test]
    public void Disable_ResetsTheController_KeepsAdminQueueRegisters()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        Assert.That(p.Controller.SubmissionQueueExists(1), Is.True);
        uint aqa = d.Read32(NvmeRegisters.Aqa);
        ulong asq = d.Read64(NvmeRegisters.Asq), acq = d.Read64(NvmeRegisters.Acq);
        d.DisableController();
        Assert.That(d.Read32(NvmeRegisters.Csts), Is.Zero);
        Assert.That(p.Controller.SubmissionQueueExists(1) || p.Controller.CompletionQueueExists(1), Is.False, "I/O queues deleted");
        Assert.That(p.Controller.SubmissionQueueExists(0), Is.False, "admin queue state gone");
        Assert.That(d.Read32(NvmeRegisters.Aqa), Is.EqualTo(aqa), "AQA survives CC.EN 1->0 (§7.3.2)");
        Assert.That(d.Read64(NvmeRegisters.Asq), Is.EqualTo(asq));
        Assert.That(d.Read64(NvmeRegisters.Acq), Is.EqualTo(acq));
    }

    [Test]
    public void ReEnableAfterReset_StartsAFreshAdminQueue()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        d.DisableController();
        // Host software starts its admin queue over: head/tail 0, phase 1, zeroed completion memory.
        var d2 = p.Driver();
        d2.Initialize();
        Assert.That(d2.Controller!.ControllerId, Is.EqualTo(NvmeTestPlatform.ControllerId));
        Assert.That(d2.Namespaces.Keys, Is.EqualTo(new uint[] { 1 }));
    }

    static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(1u | 5u << 7 | CcIoEntries, 0x001F_001Fu, "MPS").SetName("Enable_MpsAboveMpsMax_SetsCfs");
        yield return new TestCaseData(1u | 1u << 4 | CcIoEntries, 0x001F_001Fu, "CSS").SetName("Enable_UnsupportedCommandSet_SetsCfs");
        yield return new TestCaseData(1u | 1u << 11 | CcIoEntries, 0x001F_001Fu, "AMS").SetName("Enable_WeightedRoundRobinNotOffered_SetsCfs");
        yield return new TestCaseData(1u | 5u << 16 | 4u << 20, 0x001F_001Fu, "IOSQES").SetName("Enable_UnsupportedIosqes_SetsCfs");
        yield return new TestCaseData(1u | 6u << 16 | 3u << 20, 0x001F_001Fu, "IOCQES").SetName("Enable_UnsupportedIocqes_SetsCfs");
        yield return new TestCaseData(1u | CcIoEntries, 0x001F_0000u, "one entry").SetName("Enable_OneEntryAdminQueue_SetsCfs");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void InvalidSettings_SetCfs_AndAreLogged(uint cc, uint aqa, string logged)
    {
        var p = new NvmeTestPlatform();
        var d = Prepared(p);
        d.Write32(NvmeRegisters.Aqa, aqa);
        d.Write32(NvmeRegisters.Cc, cc);
        uint csts = d.Read32(NvmeRegisters.Csts);
        Assert.That(csts & 2, Is.EqualTo(2u), "CFS");
        Assert.That(csts & 1, Is.Zero, "never ready");
        Assert.That(p.LogMessages(LogLevel.Error).Single(m => m.Contains("controller fatal status")), Does.Contain(logged));
        // Recovery: a reset clears CFS and a valid configuration enables.
        d.Write32(NvmeRegisters.Cc, 0);
        Assert.That(d.Read32(NvmeRegisters.Csts), Is.Zero);
        d.Write32(NvmeRegisters.Aqa, 0x001F_001F);
        d.EnableController();
        Assert.That(p.Controller.IsReady, Is.True);
    }

    [Test]
    public void Enable_AdminQueueNotPageAligned_SetsCfs()
    {
        var p = new NvmeTestPlatform();
        var d = Prepared(p);
        // ASQ is 4 KiB aligned by its reserved bits; with 8 KiB pages (MPS=1) 0x...1000 is misaligned.
        d.Write64(NvmeRegisters.Asq, d.AdminQueue!.SqBase | 0x1000);
        d.Write32(NvmeRegisters.Cc, 1 | 1u << 7 | CcIoEntries);
        Assert.That(p.Controller.IsFatal, Is.True);
    }

    [Test]
    public void DriverEnable_ThrowsOnCfs()
    {
        var p = new NvmeTestPlatform();
        var d = p.Driver(new NvmeDriverOptions { MemoryPageSizeShift = 0 });
        d.MapFunction();
        d.ConfigureAdminQueue();
        d.Write32(NvmeRegisters.Aqa, 0);
        Assert.Throws<NvmeDriverException>(d.EnableController);
    }

    [Test]
    public void StaticCcFields_CannotChangeWhileEnabled()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        uint cc = d.Read32(NvmeRegisters.Cc);
        d.Write32(NvmeRegisters.Cc, cc | 2u << 7); // MPS 0 -> 2 while EN = 1
        Assert.That(d.Read32(NvmeRegisters.Cc), Is.EqualTo(cc));
        Assert.That(p.LogMessages(LogLevel.Warning).Any(m => m.Contains("CC.MPS changed while CC.EN is 1")), Is.True);
        Assert.That(p.Controller.IsReady, Is.True, "the controller keeps running");
    }

    [Test]
    public void Shutdown_FlushesAndReportsCompleteAfterTheDelay_ThenStopsProcessing()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { ShutdownDelayNs = 1000 });
        var d = p.ReadyDriver();
        long flushes = p.Ns1.Flushes;
        uint cc = d.Read32(NvmeRegisters.Cc);
        d.Write32(NvmeRegisters.Cc, cc | 1u << 14); // SHN = 01b normal
        Assert.That((d.Read32(NvmeRegisters.Csts) >> 2) & 3, Is.EqualTo(1u), "SHST 01b: processing");
        Assert.That(p.Ns1.Flushes, Is.EqualTo(flushes + 1), "attached namespaces are flushed");
        p.Clock.Advance(1000);
        Assert.That((d.Read32(NvmeRegisters.Csts) >> 2) & 3, Is.EqualTo(2u), "SHST 10b: complete");
        Assert.That(d.Read32(NvmeRegisters.Csts) & 1, Is.EqualTo(1u), "RDY stays 1 until CC.EN is cleared");
        // Commands are not processed any more.
        long completed = p.Controller.CommandsCompleted;
        var q = d.IoQueue(1);
        d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Flush, Nsid = 1 });
        Assert.That(p.Controller.CommandsCompleted, Is.EqualTo(completed));
        // A reset and re-enable start normal operation again.
        d.DisableController();
        Assert.That((d.Read32(NvmeRegisters.Csts) >> 2) & 3, Is.EqualTo(2u), "SHST survives the reset");
        d.Write32(NvmeRegisters.Cc, (cc & ~(3u << 14)) | 1);
        Assert.That(d.Read32(NvmeRegisters.Csts), Is.EqualTo(1u), "SHST back to 00b on enable");
    }

    [Test]
    public void FunctionLevelReset_ResetsEveryRegister()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        p.Function.FunctionLevelReset();
        Assert.That(p.Controller.Cc, Is.Zero);
        Assert.That(p.Controller.Csts, Is.Zero);
        Assert.That(p.Controller.SubmissionQueueExists(0), Is.False);
        Assert.That(p.Function.FindCapability<MsixCapability>()!.IsEnabled, Is.False, "MSI-X reset too");
        // Config space was reset: the driver must map the function again before use.
        var again = p.Driver();
        Assert.Throws<NvmeDriverException>(again.MapFunction, "BAR0 is cleared by the FLR");
    }
}
