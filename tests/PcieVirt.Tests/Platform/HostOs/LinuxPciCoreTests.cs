using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.HostOs;
using PcieVirt.Tests.Fabric;
using PcieVirt.Tests.Fabric.Sriov;

namespace PcieVirt.Tests.Platform.HostOs;

/// <summary>
/// The host OS model issues the Linux PCI core's SR-IOV config sequences (sriov-facts.md: what Linux 6.1
/// did on a real boot) and keeps what Linux keeps; every failure is a result with Linux's error.
/// </summary>
[TestFixture]
public class LinuxPciCoreTests
{
    const int Ctrl = 0x08, InitialVfs = 0x0C, TotalVfs = 0x0E, NumVfs = 0x10, FuncLink = 0x12, Offset = 0x14, Stride = 0x16,
        VfDid = 0x1A, SupPg = 0x1C, SysPg = 0x20, VfBar0 = 0x24, Caps = 0x04;

    sealed class Host
    {
        public Host(ushort totalVfs = 4, int pfCount = 1, Func<int, SriovOptions>? options = null, LinuxPciCoreOptions? os = null,
            RootComplexOptions? rc = null)
        {
            Fabric = new SriovFabric(totalVfs, pfCount: pfCount, options: options, rcOptions: rc);
            Config = new RecordingAccessor(Fabric.Rc, Fabric.Rc.Clock);
            Os = new LinuxPciCore(Config, Fabric.Rc.Clock, null, os);
        }

        public SriovFabric Fabric { get; }
        public RecordingAccessor Config { get; }
        public LinuxPciCore Os { get; }
        public PciAddress Pf(int k = 0) => Fabric.A(Fabric.Pfs[k].Bdf);
        public int Cap(int k = 0) => Fabric.Caps[k].Offset;
        public ulong Now => Fabric.Rc.Clock.Now;

        public Host Booted()
        {
            Assert.That(Os.Boot().Success, Is.True);
            Config.Log.Clear();
            return this;
        }
    }

    static (char, int, int, uint) R(int rel, int width, uint value) => ('R', rel, width, value);
    static (char, int, int, uint) W(int rel, int width, uint value) => ('W', rel, width, value);

    /// <summary>Accesses to the PF's SR-IOV registers (the header dword, read while walking the capability list, left out).</summary>
    static List<(char, int, int, uint)> Registers(Host h) => h.Config.Within(h.Pf(), h.Cap(), 0x40).Where(x => x.Rel != 0).ToList();

    [Test]
    public void Boot_SriovInit_IssuesLinuxsAccessesInOrder()
    {
        var h = new Host(totalVfs: 3);
        var vfBar = h.Fabric.Report!.Bars.Single(b => b.Register == BarRegister.VfBar);
        Assert.That(h.Os.Boot().Success, Is.True);
        uint lo = (uint)vfBar.Base | 0xC, hi = (uint)(vfBar.Base >> 32);
        var expected = new List<(char, int, int, uint)>
        {
            R(Ctrl, 2, 0x10),              // firmware left ARI Capable Hierarchy set
            W(Ctrl, 2, 0x10),              // ARI Capable Hierarchy: the root port forwards ARI, lowest PF
            R(TotalVfs, 2, 3),
            R(SupPg, 4, 0x553),
            W(SysPg, 4, 1),                // 4 KiB
            R(VfBar0, 4, lo), W(VfBar0, 4, 0xFFFF_FFFF), R(VfBar0, 4, 0xFFFF_C00C), W(VfBar0, 4, lo),
            R(VfBar0 + 4, 4, hi), W(VfBar0 + 4, 4, 0xFFFF_FFFF), R(VfBar0 + 4, 4, 0xFFFF_FFFF), W(VfBar0 + 4, 4, hi),
        };
        for (int i = 2; i < 6; i++) expected.AddRange([R(VfBar0 + 4 * i, 4, 0), W(VfBar0 + 4 * i, 4, 0xFFFF_FFFF), R(VfBar0 + 4 * i, 4, 0), W(VfBar0 + 4 * i, 4, 0)]);
        expected.AddRange([R(VfDid, 2, 0x1101), R(Caps, 4, 2), R(FuncLink, 1, 0)]);
        // NumVFs = TotalVFs … 1, offset/stride read back each time (default rule with ARI: 1 and 1), then 0.
        for (int n = 3; n >= 1; n--) expected.AddRange([W(NumVfs, 2, (uint)n), R(Offset, 2, 1), R(Stride, 2, 1)]);
        expected.AddRange([W(NumVfs, 2, 0), R(Offset, 2, 1), R(Stride, 2, 1)]);
        Assert.That(Registers(h), Is.EqualTo(expected));
    }

    [Test]
    public void Boot_RecordsWhatLinuxKeeps()
    {
        var h = new Host(totalVfs: 300).Booted();
        var pf = h.Os.FindPhysicalFunction(h.Pf())!;
        var vfBar = h.Fabric.Report!.Bars.Single(b => b.Register == BarRegister.VfBar);
        Assert.Multiple(() =>
        {
            Assert.That(pf.TotalVfs, Is.EqualTo(300));
            Assert.That(pf.NumVfs, Is.Zero);
            Assert.That(pf.SystemPageSize, Is.EqualTo(1u));
            Assert.That(pf.Control, Is.EqualTo(0x10), "ARI Capable Hierarchy");
            Assert.That(pf.VfDeviceId, Is.EqualTo(0x1101));
            Assert.That(pf.VendorId, Is.EqualTo(0x1af4));
            Assert.That(pf.VfBarSizes[0], Is.EqualTo(0x4000UL));
            Assert.That(pf.VfBars[0], Is.EqualTo(new BarResource(vfBar.Base | 0xC, 300 * 0x4000UL)));
            Assert.That(pf.MaxVfBus, Is.EqualTo(h.Pf().Bdf.Bus + 1), "VF 256 onwards sit on the next bus");
            Assert.That(pf.BusRange, Is.EqualTo((h.Pf().Bdf.Bus, h.Pf().Bdf.Bus + 1)));
            Assert.That(h.Fabric.Cap.NumVfs, Is.Zero);
        });
    }

    [Test]
    public void Boot_ClearsVfEnableLeftByAPreviousOwner_AndWaitsOneSecond()
    {
        var h = new Host(totalVfs: 4);
        h.Fabric.Enable(4);
        ulong before = h.Now;
        Assert.That(h.Os.Boot().Success, Is.True);
        Assert.That(h.Fabric.Cap.VfEnable, Is.False);
        Assert.That(h.Fabric.Rc.AttachedFunctions.OfType<VirtualFunction>(), Is.Empty);
        Assert.That(h.Now - before, Is.EqualTo(VirtualClock.Second));
        Assert.That(Registers(h).Take(2), Is.EqualTo(new[] { R(Ctrl, 2, 0x19), W(Ctrl, 2, 0) }));
    }

    [Test]
    public void Boot_OnlyTheLowestPfGetsAriCapableHierarchy()
    {
        var h = new Host(totalVfs: 2, pfCount: 2).Booted();
        Assert.That(h.Os.PhysicalFunctions.Select(p => p.Control), Is.EqualTo(new ushort[] { 0x10, 0 }));
        Assert.That(h.Fabric.Caps[1].AriCapableHierarchy, Is.True, "PF1 follows PF0's bit");
    }

    [Test]
    public void Boot_LargerOsPage_PicksTheSmallestSupportedPageThatFits()
    {
        var h = new Host(totalVfs: 2, os: new LinuxPciCoreOptions { PageSize = 0x10000 }).Booted();
        var pf = h.Os.FindPhysicalFunction(h.Pf())!;
        Assert.That(pf.SystemPageSize, Is.EqualTo(0x10u), "64 KiB = bit 4");
        Assert.That(h.Fabric.Cap.SystemPageSizeBytes, Is.EqualTo(0x10000UL));
        Assert.That(pf.VfBarSizes[0], Is.EqualTo(0x10000UL), "a 16 KiB VF BAR decodes a whole 64 KiB page (§9.3.3.13)");
    }

    [Test]
    public void EnableVfs_WritesNumVfs_ReadsOffsetStride_SetsVfEnableAndMse_Waits100ms_ThenScans()
    {
        var h = new Host(totalVfs: 4).Booted();
        ulong t0 = h.Now;
        var r = h.Os.EnableVfs(h.Pf(), 3);
        Assert.That(r.Success, Is.True, r.ToString());
        var pfSeq = h.Config.Within(h.Pf(), h.Cap(), 0x40);
        Assert.That(pfSeq, Is.EqualTo(new[] { R(InitialVfs, 2, 4), W(NumVfs, 2, 3), R(Offset, 2, 1), R(Stride, 2, 1), W(Ctrl, 2, 0x19) }));
        var enableAt = h.Config.Log.Single(a => a.Write && a.Offset == h.Cap() + Ctrl).Time;
        var vfAccesses = h.Config.Log.Where(a => a.Address != h.Pf()).ToList();
        Assert.That(vfAccesses, Is.Not.Empty);
        Assert.That(vfAccesses.All(a => a.Time >= enableAt + 100 * VirtualClock.Millisecond), Is.True, "no VF access inside the 100 ms");
        Assert.That(vfAccesses.All(a => a.Status == CompletionStatus.SuccessfulCompletion), Is.True);
        Assert.That(h.Now - t0, Is.EqualTo(100 * VirtualClock.Millisecond));
        Assert.That(vfAccesses.Select(a => a.Address).Distinct(), Is.EqualTo(new[] { 1, 2, 3 }.Select(n => h.Fabric.A(h.Fabric.VfBdf(n)))));
    }

    [Test]
    public void EnableVfs_ScanRecordsEachVf()
    {
        var h = new Host(totalVfs: 4).Booted();
        h.Os.EnableVfs(h.Pf(), 2);
        var pf = h.Os.FindPhysicalFunction(h.Pf())!;
        var vf = pf.VirtualFunctions[1];
        var vfBar = h.Fabric.Report!.Bars.Single(b => b.Register == BarRegister.VfBar);
        Assert.Multiple(() =>
        {
            Assert.That(pf.NumVfs, Is.EqualTo(2));
            Assert.That(vf.Index, Is.EqualTo(1));
            Assert.That(vf.Address, Is.EqualTo(h.Fabric.A(h.Fabric.VfBdf(2))));
            Assert.That(vf.VendorId, Is.EqualTo(0x1af4));
            Assert.That(vf.DeviceId, Is.EqualTo(0x1101));
            Assert.That(vf.ClassRevision, Is.EqualTo(0x0108_0202u), "the PF's class code and revision");
            Assert.That(vf.HeaderType, Is.Zero, "a VF is never multi-function");
            Assert.That((vf.SubsystemVendorId, vf.SubsystemId), Is.EqualTo(((ushort)0x1af4, (ushort)0x0042)));
            Assert.That(vf.Capabilities, Is.EqualTo(new byte[] { 0x10, 0x11 }), "PCI Express, MSI-X");
            Assert.That(vf.PcieCapabilities >> 4 & 0xF, Is.Zero, "Endpoint");
            Assert.That(vf.DeviceCapabilities & (1u << 28), Is.Not.Zero, "FLR capable");
            Assert.That(vf.MsixTableSize, Is.EqualTo(4));
            Assert.That(vf.IntxMaskingBroken, Is.True, "a VF has no INTx: Interrupt Disable does not stick");
            Assert.That(vf.Bars[0], Is.EqualTo(new BarResource((vfBar.Base | 0xC) + 0x4000, 0x4000)));
            Assert.That(h.Fabric.Cap.VirtualFunctions[1].Config.Read16(PciRegs.Command), Is.Zero, "Command restored");
            Assert.That(h.Os.Describe(vf.Address), Is.EqualTo(vf.ToFunctionInfo()));
        });
    }

    [Test]
    public void Sysfs_ShowsWhatLinuxShows()
    {
        var h = new Host(totalVfs: 4).Booted();
        h.Os.EnableVfs(h.Pf(), 2);
        var vf1 = h.Fabric.A(h.Fabric.VfBdf(1));
        var vf2 = h.Fabric.A(h.Fabric.VfBdf(2));
        Assert.That(h.Os.Sysfs(h.Pf()), Is.EqualTo(new[]
        {
            ("sriov_totalvfs", "4"), ("sriov_numvfs", "2"), ("sriov_offset", "1"), ("sriov_stride", "1"),
            ("sriov_vf_device", "1101"), ("sriov_vf_total_msix", "8"),
            ("virtfn0", vf1.ToString(true)), ("virtfn1", vf2.ToString(true)),
        }));
        Assert.That(h.Os.Sysfs(vf1), Is.Null, "a VF has no SR-IOV attributes");
    }

    [Test]
    public void DisableVfs_ClearsVfEnableAndMse_WaitsOneSecond_ThenNumVfsZero()
    {
        var h = new Host(totalVfs: 4).Booted();
        h.Os.EnableVfs(h.Pf(), 4);
        h.Config.Log.Clear();
        ulong t0 = h.Now;
        var r = h.Os.EnableVfs(h.Pf(), 0);
        Assert.That(r.Success, Is.True);
        Assert.That(h.Config.Within(h.Pf(), h.Cap(), 0x40), Is.EqualTo(new[] { W(Ctrl, 2, 0x10), W(NumVfs, 2, 0), R(Offset, 2, 1), R(Stride, 2, 1) }));
        var log = h.Config.Log;
        Assert.That(log[1].Time - log[0].Time, Is.EqualTo(VirtualClock.Second));
        Assert.That(h.Now - t0, Is.EqualTo(VirtualClock.Second));
        Assert.That(h.Os.FindPhysicalFunction(h.Pf())!.VirtualFunctions, Is.Empty);
        Assert.That(h.Fabric.Rc.AttachedFunctions.OfType<VirtualFunction>(), Is.Empty);
        Assert.That(h.Os.DisableVfs(h.Pf()).Success, Is.True, "disabling again is a no-op");
    }

    [Test]
    public void EnableVfs_MoreThanTotalVfs_IsERange_AndChangesNothing()
    {
        var h = new Host(totalVfs: 4).Booted();
        var r = h.Os.EnableVfs(h.Pf(), 5);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.ERANGE));
        Assert.That(r.Message, Does.Contain("5 VFs requested; sriov_totalvfs is 4"));
        Assert.That(h.Config.Log, Is.Empty);
    }

    [Test]
    public void EnableVfs_WhileEnabled_IsEBusy()
    {
        var h = new Host(totalVfs: 4).Booted();
        h.Os.EnableVfs(h.Pf(), 2);
        h.Config.Log.Clear();
        var r = h.Os.EnableVfs(h.Pf(), 3);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.EBUSY));
        Assert.That(r.Message, Does.Contain("2 VFs already enabled. Disable before enabling 3 VFs"));
        Assert.That(h.Config.Log, Is.Empty);
        Assert.That(h.Os.EnableVfs(h.Pf(), 2).Success, Is.True, "asking for the same number is fine");
    }

    [Test]
    public void EnableVfs_NotAPf_IsENoDev()
    {
        var h = new Host().Booted();
        var r = h.Os.EnableVfs(h.Fabric.A(h.Fabric.RootPort.Function.Bdf), 1);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.ENODEV));
    }

    [Test]
    public void EnableVfs_BeyondTheBusRange_IsENoMem_WithoutTouchingTheDevice()
    {
        // The root complex ends at bus 01, so firmware cannot reserve bus 02 for VFs 256..300.
        var rc = FabricTestKit.Options() with { EndBus = 1 };
        var h = new Host(totalVfs: 300, rc: rc).Booted();
        var r = h.Os.EnableVfs(h.Pf(), 300);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.ENOMEM));
        Assert.That(r.Message, Does.Contain("can't enable 300 VFs (bus 02 out of range of [bus 01-01]): not enough bus numbers"));
        Assert.That(h.Config.Log.Count(a => a.Write), Is.Zero, "no change");
        Assert.That(h.Fabric.Cap.NumVfs, Is.Zero);
        Assert.That(h.Os.EnableVfs(h.Pf(), 255).Success, Is.True, "255 VFs stay on bus 01");
    }

    [Test]
    public void EnableVfs_UnassignedVfBar_IsENoMem()
    {
        var h = new Host(totalVfs: 4);
        // A VF BAR firmware could not place (here: cleared behind its back before the OS boots).
        h.Fabric.Cap.Function.Config.Write(h.Cap() + VfBar0, 4, 0);
        h.Fabric.Cap.Function.Config.Write(h.Cap() + VfBar0 + 4, 4, 0);
        h.Booted();
        var r = h.Os.EnableVfs(h.Pf(), 1);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.ENOMEM));
        Assert.That(r.Message, Does.Contain("not enough MMIO resources for SR-IOV"));
    }

    [Test]
    public void EnableVfs_VfSlowerThan100ms_IsWaitedFor()
    {
        var h = new Host(totalVfs: 2, options: k => SriovFabric.Options(2) with { VfEnableSettleTimeNs = 300 * VirtualClock.Millisecond }).Booted();
        ulong t0 = h.Now;
        var r = h.Os.EnableVfs(h.Pf(), 2);
        Assert.That(r.Success, Is.True, r.ToString());
        Assert.That(h.Now - t0, Is.InRange(300 * VirtualClock.Millisecond, 500 * VirtualClock.Millisecond));
        Assert.That(h.Config.Log.Count(a => a.Status == CompletionStatus.ConfigurationRequestRetry), Is.GreaterThan(0));
    }

    [Test]
    public void EnableVfs_VfThatNeverAnswers_RollsBack_WithEio()
    {
        // 300 VFs: the OS saw bus 02 in range at boot; then the root port's range shrinks, so VF256+ answer UR.
        var h = new Host(totalVfs: 300).Booted();
        var rp = h.Fabric.RootPort.Function;
        h.Fabric.W(rp.Bdf, PciRegs.SubordinateBus, 1, rp.SecondaryBus);
        var r = h.Os.EnableVfs(h.Pf(), 300);
        Assert.That(r.Error, Is.EqualTo(LinuxErrno.EIO));
        Assert.That(r.Message, Does.Contain("VF255").And.Contain("did not come up"));
        Assert.That(h.Fabric.Cap.VfEnable, Is.False);
        Assert.That(h.Fabric.Cap.NumVfs, Is.Zero);
        Assert.That(h.Os.FindPhysicalFunction(h.Pf())!.NumVfs, Is.Zero);
        Assert.That(h.Os.VirtualFunctions, Is.Empty);
    }
}
