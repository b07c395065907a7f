using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Fabric.Sriov;

/// <summary>
/// The fabric places a PF's VFs when VF Enable creates them (routing ID = PF + First VF Offset +
/// (n−1)·VF Stride, §9.3.3.9-10), routes configuration requests to them like to any function, answers
/// Request Retry Status during the settle time (§9.3.3.3.1), and takes exactly those VFs out again.
/// </summary>
[TestFixture]
public class VfPlacementTests
{
    /// <summary>Sub-Class and Base Class Code (the upper word of the Class Code dword).</summary>
    const int SubClass = 0x0A;

    [Test]
    public void VfEnable_PlacesVfsAtTheirRoutingIds_InRoutingIdOrder()
    {
        var f = new SriovFabric(totalVfs: 8);
        int before = f.Rc.Functions().Count;
        f.Enable(8);
        var list = f.Rc.Functions();
        Assert.That(list, Has.Count.EqualTo(before + 8));
        Assert.That(list, Is.Ordered, "routing-ID order");
        var pf = f.Pf.Bdf;
        // ARI Capable Hierarchy is set by firmware (ARI forwarding below the root port): offset 1, stride 1.
        for (int n = 1; n <= 8; n++)
        {
            var rid = new Bdf((ushort)(pf.Value + n));
            Assert.That(list, Does.Contain(f.A(rid)), $"VF{n}");
            Assert.That(f.Rc.FindFunction(rid), Is.SameAs(f.Cap.VirtualFunctions[n - 1]));
            Assert.That(f.Cap.VirtualFunctions[n - 1].Bdf, Is.EqualTo(rid));
        }
    }

    [Test]
    public void VfConfigReads_RetryDuringTheSettleTime_ThenSucceed()
    {
        var f = new SriovFabric(totalVfs: 4);
        f.Enable(4);
        var vf = f.VfBdf(2);
        Assert.That(f.Read(vf, SubClass, 2, out uint v), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry));
        Assert.That(v, Is.EqualTo(0xFFFFu), "failed to the host: all ones");
        f.Rc.Clock.Advance(100 * VirtualClock.Millisecond - 1);
        Assert.That(f.Read(vf, SubClass, 2, out _), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry), "1 ns early");
        f.Rc.Clock.Advance(1);
        Assert.That(f.Read(vf, SubClass, 2, out v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v, Is.EqualTo(0x0108u), "the VF's Class Code is the PF's");
        Assert.That(f.R(vf, PciRegs.VendorId, 4), Is.EqualTo(0xFFFF_FFFFu), "VF Vendor ID and Device ID read FFFFh (§7.5.1.1.1)");
        Assert.That(f.LogCount("Configuration Request Retry Status"), Is.EqualTo(2));
    }

    [Test]
    public void WriteDuringTheSettleTime_CompletesWithRetry_AndIsNotPerformed()
    {
        var f = new SriovFabric(totalVfs: 2);
        f.Enable(2);
        var vf = f.VfBdf(1);
        Assert.That(f.Write(vf, PciRegs.Command, 2, (uint)PciCommand.BusMaster), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry));
        f.Settle();
        Assert.That(f.R(vf, PciRegs.Command, 2), Is.Zero);
    }

    [Test]
    public void CrsSoftwareVisibility_VendorIdReadsOneDuringTheSettleTime()
    {
        // §2.3.2 / §7.5.3.12: with CRS Software Visibility enabled in the root port, a read of both
        // Vendor ID bytes returns 0001h (the rest all ones); any other request is not made visible.
        var f = new SriovFabric(totalVfs: 2);
        var rp = f.RootPort.Function;
        var exp = rp.FindCapability<PciExpressCapability>()!;
        f.W(rp.Bdf, exp.Offset + 0x1C, 2, 1u << 4);
        f.Enable(2);
        var vf = f.VfBdf(1);
        Assert.Multiple(() =>
        {
            Assert.That(f.Read(vf, PciRegs.VendorId, 2, out uint v16), Is.EqualTo(CompletionStatus.ConfigurationRequestRetry));
            Assert.That(v16, Is.EqualTo(0x0001u));
            f.Read(vf, PciRegs.VendorId, 4, out uint v32);
            Assert.That(v32, Is.EqualTo(0xFFFF_0001u));
            f.Read(vf, PciRegs.VendorId, 1, out uint v8);
            Assert.That(v8, Is.EqualTo(0xFFu), "one byte of Vendor ID is not made visible");
            f.Read(vf, SubClass, 2, out uint cls);
            Assert.That(cls, Is.EqualTo(0xFFFFu));
        });
    }

    [Test]
    public void PfConfigReads_AreNotAffectedByTheSettleTime()
    {
        var f = new SriovFabric(totalVfs: 2);
        f.Enable(2);
        Assert.That(f.R(f.Pf.Bdf, PciRegs.VendorId, 2), Is.EqualTo(0x1af4u));
    }

    [Test]
    public void VfsBeyondThePfsBus_AreReachedByType1Requests()
    {
        // 300 VFs with offset 1 / stride 1 run from 01:00.1 to 02:05.3 (routing IDs 0101h..022Ch): firmware
        // reserved bus 02 (it probes NumVFs = TotalVFs … 1), and the device claims Type 1 requests to it.
        var f = new SriovFabric(totalVfs: 300);
        Assert.That(f.RootPort.Function.SubordinateBus, Is.EqualTo(f.Pf.Bdf.Bus + 1));
        f.Enable(300);
        f.Settle();
        var last = f.VfBdf(300);
        Assert.That(last, Is.EqualTo(new Bdf(f.Pf.Bdf.Bus + 1, 5, 4)));
        Assert.That(f.R(last, SubClass, 2), Is.EqualTo(0x0108u));
        Assert.That(f.Rc.FindFunction(last), Is.SameAs(f.Cap.VirtualFunctions[299]));
        Assert.That(f.Rc.Functions().Count(a => a.Bdf.Bus > f.Pf.Bdf.Bus), Is.EqualTo(300 - 255));
    }

    [Test]
    public void VfsBeyondTheSubordinateBus_AreUnreachable_AndLoggedOnce()
    {
        var f = new SriovFabric(totalVfs: 300);
        var rp = f.RootPort.Function;
        int pfBus = f.Pf.Bdf.Bus;
        // Host software shrinks the root port's range to the PF's own bus.
        f.W(rp.Bdf, PciRegs.SubordinateBus, 1, (uint)pfBus);
        f.Enable(300);
        f.Settle();
        var onBus = f.VfBdf(255);
        var beyond = f.VfBdf(256);
        Assert.That(f.Read(onBus, SubClass, 2, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(f.Read(beyond, SubClass, 2, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(v, Is.EqualTo(0xFFFFu));
        Assert.That(f.Write(beyond, PciRegs.Command, 2, 4), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(f.Cap.VirtualFunctions[255].Config.Read16(PciRegs.Command), Is.Zero, "the UR write changed nothing");
        Assert.That(f.LogCount("beyond the upstream bridge's Subordinate Bus Number"), Is.EqualTo(1));
        Assert.That(f.Rc.Functions().Any(a => a.Bdf.Bus > pfBus), Is.False, "lspci cannot see them");
    }

    [Test]
    public void VfDisable_RemovesExactlyThatPfsVfs()
    {
        var f = new SriovFabric(totalVfs: 4, pfCount: 2);
        f.Enable(4, k: 0);
        f.Enable(3, k: 1);
        var pf1Vfs = f.Caps[1].VirtualFunctions.Select(v => v.Bdf).ToArray();
        int all = f.Rc.Functions().Count;
        f.Disable(0);
        var list = f.Rc.Functions();
        Assert.That(list, Has.Count.EqualTo(all - 4));
        foreach (var b in pf1Vfs) Assert.That(list, Does.Contain(f.A(b)));
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>().Count(), Is.EqualTo(3));
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>().All(v => v.PhysicalFunction == f.Pfs[1]), Is.True);
    }

    [Test]
    public void TwoPfs_InterleaveTheirVfs()
    {
        // Default rule with 2 PFs: offset 2, stride 2 → PF0's VFs at functions 2,4,6…, PF1's at 3,5,7… (§9.3.3.9-10).
        var f = new SriovFabric(totalVfs: 3, pfCount: 2);
        f.Enable(3, k: 0);
        f.Enable(3, k: 1);
        f.Settle();
        var devfns = f.Rc.Functions().Where(a => a.Bdf.Bus == f.Pf.Bdf.Bus).Select(a => (int)a.Bdf.DevFn).ToArray();
        Assert.That(devfns, Is.EqualTo(new[] { 0, 1, 2, 3, 4, 5, 6, 7 }));
        Assert.That(f.Rc.FindFunction(new Bdf((ushort)(f.Pf.Bdf.Value + 3))), Is.SameAs(f.Caps[1].VirtualFunctions[0]));
    }

    [Test]
    public void PfFlr_RemovesEveryVfFromTheFabric()
    {
        var f = new SriovFabric(totalVfs: 8);
        int before = f.Rc.Functions().Count;
        f.Enable(8);
        f.Settle();
        var exp = f.Pf.FindCapability<PciExpressCapability>()!;
        f.W(f.Pf.Bdf, exp.Offset + 0x08, 2, 0x8000); // Initiate Function Level Reset
        Assert.That(f.Rc.Functions(), Has.Count.EqualTo(before));
        Assert.That(f.Read(new Bdf((ushort)(f.Pf.Bdf.Value + 1)), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(f.R(f.Pf.Bdf, f.Sriov() + SriovFabric.NumVfs, 2), Is.Zero);
    }

    [Test]
    public void RootComplexReset_WithVfsEnabled_RemovesThem()
    {
        var f = new SriovFabric(totalVfs: 8);
        f.Enable(8);
        Assert.DoesNotThrow(() => f.Rc.Reset());
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>(), Is.Empty);
        Assert.That(f.Cap.VirtualFunctions, Is.Empty);
    }

    [Test]
    public void DisconnectingTheDevice_TakesItsVfsAlong()
    {
        var f = new SriovFabric(totalVfs: 8);
        f.Enable(8);
        f.RootPort.Disconnect();
        Assert.That(f.Rc.AttachedFunctions.Count(x => x is VirtualFunction or EndpointFunction { IsBridge: false }), Is.Zero);
        // The capability no longer reaches the fabric: disabling and enabling again places nothing.
        f.Cap.Function.Config.Write(f.Cap.Offset + SriovFabric.Control, 2, 0);
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>(), Is.Empty);
    }

    [Test]
    public void PfBusRenumbering_MovesItsVfs()
    {
        var f = new SriovFabric(totalVfs: 4, busReserve: 4);
        f.Enable(4);
        f.Settle();
        var rp = f.RootPort.Function;
        int oldBus = f.Pf.Bdf.Bus;
        f.W(rp.Bdf, PciRegs.PrimaryBus, 4, (uint)(0 | (oldBus + 2) << 8 | (oldBus + 4) << 16));
        Assert.That(f.Pf.Bdf.Bus, Is.EqualTo(oldBus + 2));
        for (int i = 0; i < 4; i++)
        {
            var vf = f.Cap.VirtualFunctions[i];
            Assert.That(vf.Bdf, Is.EqualTo(new Bdf(oldBus + 2, 0, i + 1)));
            Assert.That(f.Rc.FindFunction(vf.Bdf), Is.SameAs(vf));
            Assert.That(f.Cap.VfRoutingId(i + 1, f.Pf.Bdf), Is.EqualTo(vf.Bdf));
        }
        Assert.That(f.Read(new Bdf(oldBus, 0, 1), PciRegs.VendorId, 2, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void VfsCreatedBeforeTheFabricSeesThePf_ArePlacedOnAttach()
    {
        var f = new SriovFabric(totalVfs: 2, enumerate: false);
        f.RootPort.Disconnect();
        f.Cap.Function.Config.Write(f.Cap.Offset + SriovFabric.NumVfs, 2, 2);
        f.Cap.Function.Config.Write(f.Cap.Offset + SriovFabric.Control, 2, SriovFabric.VfEnable);
        f.RootPort.ConnectDevice(f.Pf);
        Assert.That(f.Rc.AttachedFunctions.OfType<VirtualFunction>().Count(), Is.EqualTo(2));
    }

    [Test]
    public void VfWhoseRoutingIdCollides_IsNotPlaced_AndLogged()
    {
        // A device-model rule that puts VF1 on top of PF1 (offset 1, stride 1 for a 2-PF device).
        var f = new SriovFabric(totalVfs: 2, pfCount: 2, options: k => SriovFabric.Options(2, k, 2) with { FirstVfOffset = 1, VfStride = 1 });
        f.Enable(2, k: 0);
        Assert.That(f.Rc.FindFunction(new Bdf((ushort)(f.Pf.Bdf.Value + 1))), Is.SameAs(f.Pfs[1]));
        Assert.That(f.Rc.FindFunction(new Bdf((ushort)(f.Pf.Bdf.Value + 2))), Is.SameAs(f.Cap.VirtualFunctions[1]));
        Assert.That(f.LogCount("VFs cannot be placed, the first VF1: pf1 already sits at that routing ID"), Is.EqualTo(1));
    }

    [Test]
    public void IdRoutedCompletions_ReachAVf()
    {
        var f = new SriovFabric(totalVfs: 4);
        f.Enable(4);
        var vf = f.Cap.VirtualFunctions[3];
        var route = f.Rc.RouteById(f.Rc.RequesterId, vf.Bdf);
        Assert.That(route.Completer, Is.SameAs(vf));
        Assert.That(route.Hops.Select(h => h.Bridge), Is.EqualTo(new[] { f.RootPort.Function }));
    }
}
