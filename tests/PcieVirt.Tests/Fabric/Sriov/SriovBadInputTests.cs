using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Fabric.Sriov;

/// <summary>
/// Bad host input through the fabric: each gets the spec-defined result (or our documented choice where
/// the spec says "undefined", spec-notes/sriov.md), one clear log line, and changes nothing else.
/// </summary>
[TestFixture]
public class SriovBadInputTests
{
    /// <summary>Every function's config bytes, the functions that answer, and each PF's VFs.</summary>
    sealed record Snapshot(Dictionary<PciFunction, byte[]> Config, PciAddress[] Answering, int[] Vfs)
    {
        public static Snapshot Of(SriovFabric f) => new(
            f.Rc.AttachedFunctions.ToDictionary(x => x, x => x.Config.Bytes.ToArray()),
            [.. f.Rc.Functions()],
            [.. f.Caps.Select(c => c.VirtualFunctions.Count)]);

        /// <summary>Asserts nothing changed, except (optionally) the bytes [from, from + length) of <paramref name="except"/>.</summary>
        public void AssertUnchanged(SriovFabric f, PciFunction? except = null, int from = 0, int length = 0)
        {
            var now = Of(f);
            Assert.That(now.Answering, Is.EqualTo(Answering), "functions answering config requests");
            Assert.That(now.Vfs, Is.EqualTo(Vfs), "VFs per PF");
            Assert.That(now.Config.Keys, Is.EquivalentTo(Config.Keys), "functions in the fabric");
            foreach (var (fn, bytes) in Config)
            {
                var after = now.Config[fn];
                for (int i = 0; i < bytes.Length; i++)
                {
                    if (fn == except && i >= from && i < from + length) continue;
                    Assert.That(after[i], Is.EqualTo(bytes[i]), $"{fn.Name} config byte 0x{i:x3}");
                }
            }
        }
    }

    static int Count(SriovFabric f, string fragment) => f.LogCount(fragment);

    [Test]
    public void NumVfsAboveTotalVfs_IsIgnored_AndLogged()
    {
        // §9.3.3.7: NumVFs > TotalVFs is undefined; we keep the old value (spec-notes/sriov.md).
        var f = new SriovFabric(totalVfs: 8);
        var before = Snapshot.Of(f);
        f.W(f.Pf.Bdf, f.Sriov() + SriovFabric.NumVfs, 2, 9);
        Assert.That(f.R(f.Pf.Bdf, f.Sriov() + SriovFabric.NumVfs, 2), Is.Zero);
        Assert.That(Count(f, "NumVFs write of 9 exceeds TotalVFs 8"), Is.EqualTo(1));
        before.AssertUnchanged(f);
    }

    [Test]
    public void NumVfsChangeWhileEnabled_IsIgnored_AndLogged()
    {
        // §9.3.3.7: NumVFs may change only while VF Enable is clear; the register is read-only meanwhile.
        var f = new SriovFabric(totalVfs: 8);
        f.Enable(4);
        f.Settle();
        var before = Snapshot.Of(f);
        f.W(f.Pf.Bdf, f.Sriov() + SriovFabric.NumVfs, 2, 6);
        Assert.That(f.R(f.Pf.Bdf, f.Sriov() + SriovFabric.NumVfs, 2), Is.EqualTo(4u));
        Assert.That(Count(f, "NumVFs write of 6 while VF Enable is set"), Is.EqualTo(1));
        before.AssertUnchanged(f);
    }

    [TestCase(0x0u, TestName = "SystemPageSize_Zero_IsIgnored")]
    [TestCase(0x3u, TestName = "SystemPageSize_TwoSizes_IsIgnored")]
    [TestCase(0x4u, TestName = "SystemPageSize_Unsupported16K_IsIgnored")]
    public void UnsupportedSystemPageSize_IsIgnored_AndLogged(uint value)
    {
        // §9.3.3.13: exactly one supported size; anything else is undefined, we keep the old value.
        var f = new SriovFabric(totalVfs: 8);
        var before = Snapshot.Of(f);
        f.W(f.Pf.Bdf, f.Sriov() + SriovFabric.SystemPageSize, 4, value);
        Assert.That(f.R(f.Pf.Bdf, f.Sriov() + SriovFabric.SystemPageSize, 4), Is.EqualTo(1u));
        Assert.That(Count(f, $"System Page Size write of 0x{value:x8} is not exactly one of the Supported Page Sizes"), Is.EqualTo(1));
        before.AssertUnchanged(f);
    }

    [Test]
    public void VfEnableWithNumVfsZero_CreatesNoVf_AndLogs()
    {
        var f = new SriovFabric(totalVfs: 8);
        var before = Snapshot.Of(f);
        int ctrl = f.Sriov() + SriovFabric.Control;
        f.W(f.Pf.Bdf, ctrl, 2, f.R(f.Pf.Bdf, ctrl, 2) | SriovFabric.VfEnable | SriovFabric.VfMse);
        Assert.That(f.Cap.VfEnable, Is.True, "VF Enable is RW: the bit is set");
        Assert.That(Count(f, "VF Enable set with NumVFs = 0: no VF appears"), Is.EqualTo(1));
        before.AssertUnchanged(f, f.Pf, ctrl, 2);
    }

    [Test]
    public void ConfigAccessToAVfBeyondTheBusRange_IsUnsupportedRequest()
    {
        var f = new SriovFabric(totalVfs: 300);
        var rp = f.RootPort.Function;
        f.W(rp.Bdf, PciRegs.SubordinateBus, 1, rp.SecondaryBus);
        f.Enable(300);
        f.Settle();
        Assert.That(Count(f, "beyond the upstream bridge's Subordinate Bus Number"), Is.EqualTo(1));
        var before = Snapshot.Of(f);
        var vf = f.Cap.VirtualFunctions[299];
        Assert.That(f.Read(vf.Bdf, PciRegs.VendorId, 4, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(v, Is.EqualTo(0xFFFF_FFFFu));
        Assert.That(f.Write(vf.Bdf, PciRegs.Command, 2, (uint)PciCommand.BusMaster), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(Count(f, $"Config read to {vf.Bdf} offset 0x000 width 4: Unsupported Request (no root port forwards this bus number)"), Is.EqualTo(1));
        before.AssertUnchanged(f);
    }

    [Test]
    public void PfFlrDuringTheSettleTime_RemovesEveryVf()
    {
        var f = new SriovFabric(totalVfs: 8, pfCount: 2);
        f.Enable(4, k: 1);
        f.Enable(8, k: 0);
        var pf1Config = f.Pfs[1].Config.Bytes.ToArray();
        var exp = f.Pf.FindCapability<PciExpressCapability>()!;
        f.W(f.Pf.Bdf, exp.Offset + 0x08, 2, 0x8000); // Initiate FLR of PF0, inside its VFs' 100 ms
        Assert.That(f.Cap.VirtualFunctions, Is.Empty);
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>().Count(v => v.PhysicalFunction == f.Pf), Is.Zero);
        Assert.That(Count(f, "8 VFs removed (PF FunctionLevel reset)"), Is.EqualTo(1));
        Assert.That(f.Caps[1].VirtualFunctions, Has.Count.EqualTo(4), "the other PF's VFs stay");
        Assert.That(f.Pfs[1].Config.Bytes.ToArray(), Is.EqualTo(pf1Config));
        Assert.That(f.Cap.VfEnable || f.Cap.NumVfs != 0, Is.False, "VF Enable and NumVFs back to their defaults");
    }

    [Test]
    public void PfFlrAfterEnable_RemovesEveryVf_AndTheirBarSpace()
    {
        var f = new SriovFabric(totalVfs: 8);
        ulong vfBar = f.Report!.Bars.Single(b => b.Register == BarRegister.VfBar).Base;
        f.Enable(8);
        f.Settle();
        int before = f.Rc.Functions().Count;
        f.Pf.FunctionLevelReset();
        Assert.That(f.Rc.Functions(), Has.Count.EqualTo(before - 8));
        Assert.That(f.Rc.MemoryRead(vfBar, new byte[4]), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(Count(f, "8 VFs removed (PF FunctionLevel reset)"), Is.EqualTo(1));
    }

    [Test]
    public void ConfigRequestInTheSettleTime_CompletesWithRetry_AndChangesNothing()
    {
        var f = new SriovFabric(totalVfs: 2);
        f.Enable(2);
        var before = Snapshot.Of(f);
        var vf = f.VfBdf(1);
        Assert.That(f.Read(vf, PciRegs.Command, 2, out _), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry));
        Assert.That(f.Write(vf, PciRegs.Command, 2, (uint)PciCommand.BusMaster), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry));
        Assert.That(Count(f, $"Config read to {vf} offset 0x004 width 2: Configuration Request Retry Status"), Is.EqualTo(1));
        Assert.That(Count(f, $"Config write to {vf} offset 0x004 width 2: Configuration Request Retry Status"), Is.EqualTo(1));
        before.AssertUnchanged(f);
    }
}
