using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Pci.Capabilities;

namespace PcieVirt.Tests.Pci.Sriov;

/// <summary>First VF Offset / VF Stride rules, VF Enable, VF routing IDs, resets and the settle time (§9.3.3.3.1, §9.3.3.9-10).</summary>
[TestFixture]
public class SriovLifecycleTests
{
    static readonly SriovOptions Big = PfFixture.DefaultOptions(300);

    // ---- First VF Offset / VF Stride ----

    [Test]
    public void DefaultRule_SinglePf_WithAri_IsOffset1Stride1()
    {
        var f = new PfFixture(Big);
        f.Control(Reg.AriCapableHierarchy);
        f.SetNumVfs(300);
        Assert.That((f.R(Reg.FirstVfOffset, 2), f.R(Reg.VfStride, 2)), Is.EqualTo((1u, 1u)));
    }

    [Test]
    public void DefaultRule_WithoutAri_StaysInDevice0OnlyWhileTheVfsFit()
    {
        var f = new PfFixture(Big);
        f.SetNumVfs(7);
        Assert.That((f.Sriov.FirstVfOffset, f.Sriov.VfStride), Is.EqualTo(((ushort)1, (ushort)1)), "functions 1..7 of device 0");
        f.SetNumVfs(8);
        Assert.That((f.Sriov.FirstVfOffset, f.Sriov.VfStride), Is.EqualTo(((ushort)0x100, (ushort)1)),
            "an eighth VF cannot be reached in device 0 without ARI: the VFs move to the next bus");
    }

    [Test]
    public void OffsetAndStride_AreRecomputed_WhenAriCapableHierarchyChanges()
    {
        var f = new PfFixture(Big);
        f.SetNumVfs(20);
        Assert.That(f.Sriov.FirstVfOffset, Is.EqualTo(0x100));
        f.Control(Reg.AriCapableHierarchy);
        Assert.That(f.Sriov.FirstVfOffset, Is.EqualTo(1));
        f.Control(0);
        Assert.That(f.Sriov.FirstVfOffset, Is.EqualTo(0x100));
    }

    [Test]
    public void OffsetAndStride_AreReadOnly()
    {
        var f = new PfFixture(Big);
        f.SetNumVfs(2);
        f.W(Reg.FirstVfOffset, 4, 0x0005_0007);
        Assert.That(f.R(Reg.FirstVfOffset, 4), Is.EqualTo(0x0001_0001u));
    }

    /// <summary>
    /// PF0 and PF1 of one device (functions 0 and 1 of <paramref name="bus"/>); PF1 follows PF0's ARI
    /// Capable Hierarchy, which only the lowest-numbered PF implements (§9.3.3.3.5).
    /// </summary>
    static (PfFixture Pf0, PfFixture Pf1) TwoPfs(ushort totalVfs, int bus)
    {
        var o = PfFixture.DefaultOptions(totalVfs) with { PfCount = 2 };
        var pf0 = new PfFixture(o, bdf: new Bdf(bus, 0, 0), name: "pf0");
        var pf1 = new PfFixture(o with { PfIndex = 1 }, bdf: new Bdf(bus, 0, 1), name: "pf1");
        pf1.Sriov.FollowAriCapableHierarchyOf(pf0.Sriov);
        return (pf0, pf1);
    }

    [Test]
    public void DefaultRule_TwoPfs_InterleaveTheirVfs()
    {
        // PF0 at function 0, PF1 at function 1, ARI: VFs of PF0 at 2,4,6..., of PF1 at 3,5,7...
        var (pf0, pf1) = TwoPfs(totalVfs: 4, bus: 4);
        pf0.Control(Reg.AriCapableHierarchy);
        var a = pf0.Enable(4, ariHierarchy: true).Select(v => (int)v.Bdf.DevFn).ToArray();
        var b = pf1.Enable(4).Select(v => (int)v.Bdf.DevFn).ToArray();
        Assert.That(a, Is.EqualTo(new[] { 2, 4, 6, 8 }));
        Assert.That(b, Is.EqualTo(new[] { 3, 5, 7, 9 }));
    }

    [Test]
    public void FollowerPf_RecomputesWhenTheLowestPfChangesAriCapableHierarchy()
    {
        var (pf0, pf1) = TwoPfs(totalVfs: 8, bus: 1);
        pf1.SetNumVfs(8);
        Assert.That(pf1.Sriov.FirstVfOffset, Is.EqualTo(0x100), "non-ARI, 8 VFs do not fit in device 0");
        pf0.Control(Reg.AriCapableHierarchy);
        Assert.That(pf1.Sriov.AriCapableHierarchy, Is.True);
        Assert.That(pf1.R(Reg.Control, 2), Is.Zero, "PF1's own bit still reads 0");
        Assert.That((pf1.Sriov.FirstVfOffset, pf1.Sriov.VfStride), Is.EqualTo(((ushort)2, (ushort)2)));
    }

    [Test]
    public void AriCapableHierarchy_IsLocked_WhileAnyPfHasVfEnable()
    {
        var (pf0, pf1) = TwoPfs(totalVfs: 8, bus: 1);
        pf1.Enable(2);
        pf0.Control(Reg.AriCapableHierarchy);
        Assert.That(pf0.Sriov.AriCapableHierarchy, Is.False, "§9.3.3.3.5: changing it with VF Enable set in any PF is undefined; ignored");
        Assert.That(pf0.Logger.Has(Reg.LogAriWhileEnabled), Is.True);
        pf1.Control(0);
        pf0.Control(Reg.AriCapableHierarchy);
        Assert.That(pf0.Sriov.AriCapableHierarchy, Is.True);
    }

    [Test]
    public void FixedOffsetAndStride_FromOptions()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(8) with { FirstVfOffset = 0x80, VfStride = 2 });
        f.SetNumVfs(3);
        Assert.That((f.Sriov.FirstVfOffset, f.Sriov.VfStride), Is.EqualTo(((ushort)0x80, (ushort)2)));
        var vfs = f.Enable(3);
        Assert.That(vfs.Select(v => v.Bdf), Is.EqualTo(new[] { Bdf.FromBusDevFn(1, 0x80), Bdf.FromBusDevFn(1, 0x82), Bdf.FromBusDevFn(1, 0x84) }));
    }

    [Test]
    public void CustomRule_SeesNumVfsAndAri_OnEveryChange()
    {
        var seen = new List<VfRoutingContext>();
        var o = PfFixture.DefaultOptions(8) with
        {
            RoutingRule = c => { seen.Add(c); return new VfRouting((ushort)(c.AriCapableHierarchy ? 8 : 16), (ushort)(c.NumVfs + 1)); },
        };
        var f = new PfFixture(o, bdf: new Bdf(5, 0, 0));
        seen.Clear();
        f.SetNumVfs(3);
        f.Control(Reg.AriCapableHierarchy);
        Assert.That(seen.Select(c => (c.NumVfs, c.AriCapableHierarchy)), Is.EqualTo(new[] { ((ushort)3, false), ((ushort)3, true) }));
        Assert.That(seen[0].PfRoutingId, Is.EqualTo(new Bdf(5, 0, 0)));
        Assert.That((f.Sriov.FirstVfOffset, f.Sriov.VfStride), Is.EqualTo(((ushort)8, (ushort)4)));
    }

    [Test]
    public void CustomRule_ZeroOffsetWithVfs_IsLoggedAsModelError()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(8) with { RoutingRule = _ => new VfRouting(0, 1) });
        f.SetNumVfs(1);
        Assert.That(f.Logger.Has(Reg.LogRuleInvalid), Is.True, "§9.3.3.9: First VF Offset must not be 0 when NumVFs > 0");
    }

    // ---- VF Enable ----

    [Test]
    public void VfEnable_CreatesNumVfsVfs_AtTheirRoutingIds()
    {
        var f = new PfFixture(bdf: new Bdf(3, 0, 0));
        var vfs = f.Enable(5);
        Assert.That(vfs, Has.Count.EqualTo(5));
        Assert.That(f.Enabled, Has.Count.EqualTo(1), "VfsEnabled raised once");
        Assert.That(f.Enabled[0], Is.EqualTo(vfs));
        for (int i = 0; i < 5; i++)
        {
            Assert.That(vfs[i].VfIndex, Is.EqualTo(i));
            Assert.That(vfs[i].VfNumber, Is.EqualTo(i + 1));
            Assert.That(vfs[i].Bdf, Is.EqualTo(new Bdf(3, 0, i + 1)), "PF 03:00.0 + offset 1 + (n-1)·1");
            Assert.That(vfs[i].Bdf, Is.EqualTo(f.Sriov.VfRoutingId(i + 1, f.Pf.Bdf)));
            Assert.That(vfs[i].RoutingIdOffset, Is.EqualTo(i + 1));
            Assert.That(vfs[i].PhysicalFunction, Is.SameAs(f.Pf));
            Assert.That(vfs[i].IsVirtualFunction, Is.True);
            Assert.That(vfs[i].Upstream, Is.SameAs(f.Upstream), "VFs master through the PF's link");
        }
        Assert.That(f.Logger.Has(Reg.LogVfsEnabled), Is.True);
    }

    [Test]
    public void VfEnable_WithAri_CrossesIntoTheNextBus()
    {
        var f = new PfFixture(Big, bdf: new Bdf(2, 0, 0));
        var vfs = f.Enable(300, ariHierarchy: true);
        Assert.That(vfs[254].Bdf, Is.EqualTo(Bdf.FromBusDevFn(2, 0xFF)), "VF 255 is function 255 of bus 2");
        Assert.That(vfs[255].Bdf, Is.EqualTo(new Bdf(3, 0, 0)), "VF 256 carries into bus 3");
        Assert.That(vfs[299].Bdf, Is.EqualTo(Bdf.FromBusDevFn(3, 44)));
        Assert.That(f.Sriov.LastVfBus(f.Pf.Bdf), Is.EqualTo(3));
    }

    [Test]
    public void VfEnable_WithoutAri_PutsVfsOnTheNextBus()
    {
        var f = new PfFixture(Big, bdf: new Bdf(2, 0, 0));
        var vfs = f.Enable(10);
        Assert.That(vfs[0].Bdf, Is.EqualTo(new Bdf(3, 0, 0)));
        Assert.That(vfs[9].Bdf, Is.EqualTo(new Bdf(3, 1, 1)));
    }

    [Test]
    public void VfRoutingId_Uses16BitArithmetic()
    {
        var f = new PfFixture(Big, bdf: new Bdf(0xFF, 0, 0));
        f.SetNumVfs(10); // non-ARI: offset 0x100
        Assert.That(f.Sriov.VfRoutingId(1, f.Pf.Bdf).Value, Is.EqualTo(0x0000), "FF00h + 100h wraps to 0000h, ignoring the carry");
        Assert.That(f.Sriov.VfRoutingId(10, f.Pf.Bdf).Value, Is.EqualTo(0x0009));
        f.Control(Reg.VfEnable);
        Assert.That(f.Logger.Count(Reg.LogRoutingIdWraps), Is.EqualTo(10), "a VF below its PF's bus is unreachable (§9.3.3.9)");
    }

    [Test]
    public void VfEnable_WithNumVfsZero_CreatesNothing_ButIsLogged()
    {
        var f = new PfFixture();
        f.Control(Reg.VfEnable);
        Assert.That(f.Sriov.VfEnable, Is.True, "the bit itself is RW");
        Assert.That(f.Sriov.VirtualFunctions, Is.Empty);
        Assert.That(f.Enabled, Is.Empty);
        Assert.That(f.Logger.Has(Reg.LogEnableWithoutVfs), Is.True);
        f.SetNumVfs(2);
        Assert.That(f.Sriov.NumVfs, Is.Zero, "NumVFs is still locked while VF Enable is set");
        f.Control(0);
        Assert.That(f.Disabled, Is.Empty, "no VFs, nothing to remove");
    }

    [Test]
    public void VfDisable_RemovesTheVfs_AndReenableMakesNewOnes()
    {
        var f = new PfFixture();
        var first = f.Enable(3).ToArray();
        first[1].EnableBusMasterOnly();
        f.Control(Reg.VfMse);
        Assert.That(f.Sriov.VirtualFunctions, Is.Empty);
        Assert.That(f.Disabled, Has.Count.EqualTo(1));
        Assert.That(f.Disabled[0], Is.EqualTo(first), "VfsDisabled names the removed VFs");
        Assert.That(f.Sriov.TryGetVirtualFunction(first[0].Bdf, out _), Is.False);

        var second = f.Enable(3);
        Assert.That(second[1], Is.Not.SameAs(first[1]), "§9.3.3.3.1: setting VF Enable again creates a new set of VFs");
        Assert.That(second[1].BusMasterEnabled, Is.False, "the old VF's state is gone");
    }

    [Test]
    public void TryGetVirtualFunction_FindsVfsByRoutingId()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(8) with { FirstVfOffset = 0x10, VfStride = 3 }, bdf: new Bdf(6, 0, 0));
        var vfs = f.Enable(4);
        Assert.That(f.Sriov.TryGetVirtualFunction(Bdf.FromBusDevFn(6, 0x10 + 2 * 3), out var vf), Is.True);
        Assert.That(vf, Is.SameAs(vfs[2]));
        Assert.That(f.Sriov.TryGetVirtualFunction(Bdf.FromBusDevFn(6, 0x11), out _), Is.False, "between two VFs");
        Assert.That(f.Sriov.TryGetVirtualFunction(Bdf.FromBusDevFn(6, 0x10 + 4 * 3), out _), Is.False, "past NumVFs");
        Assert.That(f.Sriov.TryGetVirtualFunction(f.Pf.Bdf, out _), Is.False, "the PF itself");
    }

    [Test]
    public void UpdateRoutingIds_FollowsAPfBusChange()
    {
        var f = new PfFixture(bdf: new Bdf(3, 0, 0));
        var vfs = f.Enable(2);
        f.Pf.Bdf = new Bdf(7, 0, 0);
        f.Sriov.UpdateRoutingIds();
        Assert.That(vfs[1].Bdf, Is.EqualTo(new Bdf(7, 0, 2)));
    }

    [Test]
    public void Factory_BuildsTheDeviceModelsVfs()
    {
        var f = new PfFixture(factory: (s, i) => new TestVf(s, i));
        var vfs = f.Enable(2);
        Assert.That(vfs, Is.All.InstanceOf<TestVf>());
        Assert.That(vfs.All(v => v.IsSealed), Is.True, "the capability seals what the factory returns");
    }

    [Test]
    public void Factory_ReturningTheWrongIndex_IsAModelError()
    {
        var f = new PfFixture(factory: (s, _) => new VirtualFunction(s, 0));
        f.SetNumVfs(2);
        Assert.That(() => f.Control(Reg.VfEnable), Throws.InvalidOperationException);
        Assert.That(f.Sriov.VirtualFunctions, Is.Empty, "no half-built VF set is published");
    }

    [Test]
    public void VfMse_IsVisible_AndRaisesVfMemoryChanged()
    {
        var f = new PfFixture();
        int changes = 0;
        f.Sriov.VfMemoryChanged += _ => changes++;
        f.Enable(1, mse: false);
        Assert.That(f.Sriov.VfMemorySpaceEnable, Is.False);
        f.Control(Reg.VfEnable | Reg.VfMse);
        Assert.That(f.Sriov.VfMemorySpaceEnable, Is.True);
        Assert.That(changes, Is.EqualTo(1));
        f.SetVfBar0(0x4000_0000);
        Assert.That(changes, Is.EqualTo(3), "each VF BAR write too");
    }

    // ---- Resets ----

    [Test]
    public void PfFlr_ClearsVfEnable_AndRemovesEveryVf()
    {
        var f = new PfFixture();
        f.Control(Reg.AriCapableHierarchy);
        f.W(Reg.SystemPageSize, 4, 0x2);
        f.Enable(4, ariHierarchy: true);
        var pcie = f.Pf.FindCapability<PciExpressCapability>()!;
        f.Pf.W(pcie.Offset + Reg.PcieDevCtl, 2, 0x8000); // Initiate Function Level Reset
        Assert.That(f.Sriov.VfEnable, Is.False, "§7.5.3.4: FLR of a PF clears its VF Enable");
        Assert.That(f.Sriov.VirtualFunctions, Is.Empty);
        Assert.That(f.Disabled.Single(), Has.Length.EqualTo(4));
        Assert.That(f.Sriov.NumVfs, Is.Zero);
        Assert.That(f.Sriov.SystemPageSize, Is.EqualTo(1u));
        Assert.That(f.Sriov.AriCapableHierarchy, Is.True, "§9.3.3.3.5: ARI Capable Hierarchy is not affected by FLR");
        f.SetNumVfs(2);
        Assert.That(f.Sriov.NumVfs, Is.EqualTo(2), "NumVFs writable again");
    }

    [Test]
    public void HotReset_ClearsAriCapableHierarchy()
    {
        var f = new PfFixture(Big);
        f.SetNumVfs(20);
        f.Control(Reg.AriCapableHierarchy);
        f.Pf.Reset(ResetKind.Hot);
        Assert.That(f.Sriov.AriCapableHierarchy, Is.False, "a conventional reset returns it to its default");
        Assert.That((f.Sriov.FirstVfOffset, f.Sriov.VfStride), Is.EqualTo(((ushort)1, (ushort)1)), "recomputed for NumVFs 0, no ARI");
    }

    [Test]
    public void PfFlr_DuringTheSettleWindow_RemovesTheVfs()
    {
        var f = new PfFixture { Now = 1_000 };
        f.Enable(2);
        f.Now = 50_000_000;
        Assert.That(f.Sriov.IsVfConfigReady(f.Now), Is.False);
        f.Pf.FunctionLevelReset();
        Assert.That(f.Sriov.VirtualFunctions, Is.Empty);
        Assert.That(f.Sriov.IsVfConfigReady(f.Now + 1_000_000_000), Is.False, "no VFs: nothing to be ready");
    }

    // ---- Settle time ----

    [Test]
    public void SettleWindow_VfsAreConfigReadyAfter100ms_OfVirtualTime()
    {
        var f = new PfFixture { Now = 5_000_000 };
        f.Enable(2);
        Assert.That(f.Sriov.VfEnableTimeNs, Is.EqualTo(5_000_000UL));
        Assert.That(f.Sriov.VfConfigReadyTimeNs, Is.EqualTo(105_000_000UL));
        Assert.That(f.Sriov.IsVfConfigReady(5_000_000), Is.False);
        Assert.That(f.Sriov.IsVfConfigReady(104_999_999), Is.False, "inside the window: Request Retry Status");
        Assert.That(f.Sriov.IsVfConfigReady(105_000_000), Is.True);
        Assert.That(f.Sriov.IsVfConfigReady(4_000_000), Is.False, "a time before VF Enable is not after it");
    }

    [Test]
    public void SettleWindow_IsAnOption()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { VfEnableSettleTimeNs = 0 });
        f.Enable(1);
        Assert.That(f.Sriov.IsVfConfigReady(0), Is.True);
    }

    sealed class TestVf(SriovCapability s, int i) : VirtualFunction(s, i);
}

static class VfTestExtensions
{
    public static void EnableBusMasterOnly(this PciFunction f) => f.Config.Write(PciRegs.Command, 2, (uint)PciCommand.BusMaster);
}
