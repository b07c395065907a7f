using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Sriov;

/// <summary>The SR-IOV extended capability register by register (PCIe Base Spec §9.3.3; see spec-notes/sriov.md).</summary>
[TestFixture]
public class SriovCapabilityRegisterTests
{
    [Test]
    public void Header_IsExtendedId0010Version1_At100h()
    {
        var f = new PfFixture();
        Assert.That(f.Sriov.Offset, Is.EqualTo(0x100));
        Assert.That(f.R(0, 4) & 0xFFFFF, Is.EqualTo(0x10010u), "ID 0010h, version 1 (§9.3.3.1)");
        Assert.That(f.Sriov.Length, Is.EqualTo(0x40));
    }

    [Test]
    public void Capabilities_EncodeOptions_AndAreReadOnly()
    {
        var o = PfFixture.DefaultOptions() with { VfMigrationCapable = true, VfMigrationInterruptMessageNumber = 0x123 };
        var f = new PfFixture(o);
        // b0 Migration Capable, b1 ARI Capable Hierarchy Preserved (default on in PF0), b31:21 message number.
        Assert.That(f.R(Reg.Caps, 4), Is.EqualTo(1u | 2u | 0x123u << 21));
        f.W(Reg.Caps, 4, 0);
        Assert.That(f.R(Reg.Caps, 4), Is.EqualTo(1u | 2u | 0x123u << 21));
    }

    [Test]
    public void Capabilities_AriPreservedReadsZero_InOtherPfs()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { PfCount = 2, PfIndex = 1 });
        Assert.That(f.R(Reg.Caps, 4) & 2, Is.Zero, "ARI Capable Hierarchy Preserved is ROZ outside the lowest PF (§9.3.3.2)");
    }

    [Test]
    public void Capabilities_Vf10BitTagSupported_NeedsPf10BitTagRequester()
    {
        var pf = new EndpointFunction("pf", PfFixture.PfIdentity);
        pf.AddCapability(new PciExpressCapability());
        pf.AddCapability(new SriovCapability(new SriovOptions { TotalVfs = 1, Vf10BitTagRequesterSupported = true }));
        Assert.That(() => pf.Seal(), Throws.InvalidOperationException.With.Message.Contains("10-Bit Tag"));
    }

    [Test]
    public void Control_WithoutOptionalFeatures_OnlyEnableMseAndAriWritable()
    {
        var plain = new PfFixture(PfFixture.DefaultOptions(0)); // TotalVFs 0: VF Enable creates nothing
        plain.Control(0xFFFF);
        Assert.That(plain.R(Reg.Control, 2), Is.EqualTo(Reg.VfEnable | Reg.VfMse | Reg.AriCapableHierarchy),
            "without migration or 10-bit tags only VF Enable, VF MSE and ARI Capable Hierarchy are RW");
    }

    [Test]
    public void Control_WithMigrationAnd10BitTag_AllSixBitsWritable()
    {
        var pf = new EndpointFunction("pf", PfFixture.PfIdentity);
        pf.AddCapability(new PciExpressCapability(new PciExpressOptions { TenBitTagRequesterSupported = true }));
        var s = new SriovCapability(new SriovOptions { TotalVfs = 0, VfMigrationCapable = true, Vf10BitTagRequesterSupported = true });
        pf.AddCapability(s);
        pf.Seal();
        pf.Config.Write(s.Offset + Reg.Control, 2, 0xFFFF);
        Assert.That(pf.Config.Read16(s.Offset + Reg.Control), Is.EqualTo(0x3F));
        Assert.That(s.VfMigrationEnable && s.VfMigrationInterruptEnable && s.Vf10BitTagRequesterEnable, Is.True);
    }

    [Test]
    public void Control_AriCapableHierarchy_ReadOnlyZeroInOtherPfs()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { PfCount = 2, PfIndex = 1 });
        f.Control(Reg.AriCapableHierarchy);
        Assert.That(f.R(Reg.Control, 2), Is.Zero, "§9.3.3.3: hardwired to 0 in all but the lowest-numbered PF");
    }

    [Test]
    public void Status_VfMigrationStatus_IsRw1c_WhenMigrationCapable()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { VfMigrationCapable = true });
        f.Control(Reg.VfMigrationEnable);
        f.Sriov.SignalVfMigration();
        Assert.That(f.R(Reg.Status, 2), Is.EqualTo(1u));
        f.W(Reg.Status, 2, 0);
        Assert.That(f.R(Reg.Status, 2), Is.EqualTo(1u), "writing 0 leaves it");
        f.W(Reg.Status, 2, 1);
        Assert.That(f.R(Reg.Status, 2), Is.Zero, "writing 1 clears it");
    }

    [Test]
    public void Status_WithoutMigration_IsReadOnlyZero()
    {
        var f = new PfFixture();
        f.W(Reg.Status, 2, 0xFFFF);
        Assert.That(f.R(Reg.Status, 2), Is.Zero);
        Assert.That(() => f.Sriov.SignalVfMigration(), Throws.InvalidOperationException);
    }

    [Test]
    public void InitialAndTotalVfs_AreReadOnly_InitialDefaultsToTotal()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(16));
        Assert.That(f.R(Reg.InitialVfs, 2), Is.EqualTo(16u), "new designs report InitialVFs = TotalVFs (§9.3.3.5)");
        Assert.That(f.R(Reg.TotalVfs, 2), Is.EqualTo(16u));
        f.W(Reg.InitialVfs, 4, 0);
        Assert.That(f.R(Reg.InitialVfs, 4), Is.EqualTo(16u | 16u << 16));
        Assert.That(() => new SriovCapability(new SriovOptions { TotalVfs = 4, InitialVfs = 5 }), Throws.ArgumentException);
    }

    [Test]
    public void NumVfs_IsReadWrite_WhileVfEnableIsClear()
    {
        var f = new PfFixture();
        Assert.That(f.R(Reg.NumVfs, 2), Is.Zero);
        f.SetNumVfs(5);
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(5u));
        f.SetNumVfs(0);
        Assert.That(f.Sriov.NumVfs, Is.Zero);
    }

    [Test]
    public void NumVfs_IsReadOnly_WhileVfEnableIsSet_AndTheAttemptIsLogged()
    {
        var f = new PfFixture();
        f.Enable(3);
        f.SetNumVfs(6);
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(3u), "§9.3.3.7: NumVFs may only be written while VF Enable is clear");
        Assert.That(f.Sriov.VirtualFunctions, Has.Count.EqualTo(3));
        Assert.That(f.Logger.Has(Reg.LogNumVfsWhileEnabled), Is.True);

        f.Control(0);
        f.SetNumVfs(6);
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(6u), "writable again once VF Enable is clear");
    }

    [Test]
    public void NumVfs_AboveTotalVfs_IsIgnoredAndLogged()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(8));
        f.SetNumVfs(4);
        f.SetNumVfs(9);
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(4u), "the previous value is kept");
        Assert.That(f.Logger.Has(Reg.LogNumVfsExceedsTotal), Is.True);
        f.W(Reg.NumVfs + 1, 1, 1); // byte write of the high byte: 0x104
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(4u));
        f.SetNumVfs(8);
        Assert.That(f.R(Reg.NumVfs, 2), Is.EqualTo(8u), "TotalVFs itself is allowed");
    }

    [Test]
    public void FunctionDependencyLink_DefaultsToOwnFunction_AndIsReadOnly()
    {
        var pf0 = new PfFixture();
        var pf2 = new PfFixture(PfFixture.DefaultOptions() with { PfCount = 3, PfIndex = 2 });
        var linked = new PfFixture(PfFixture.DefaultOptions() with { FunctionDependencyLink = 1 });
        Assert.That(pf0.R(Reg.DependencyLink, 1), Is.Zero);
        Assert.That(pf2.R(Reg.DependencyLink, 1), Is.EqualTo(2u), "an independent PF names itself (§9.3.3.8)");
        Assert.That(linked.R(Reg.DependencyLink, 1), Is.EqualTo(1u));
        linked.W(Reg.DependencyLink, 1, 7);
        Assert.That(linked.R(Reg.DependencyLink, 1), Is.EqualTo(1u));
    }

    [Test]
    public void VfDeviceId_DefaultsToPfDeviceId_AndIsReadOnly()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { VfDeviceId = null });
        Assert.That(f.R(Reg.VfDeviceId, 2), Is.EqualTo(0x1100u));
        var g = new PfFixture();
        Assert.That(g.R(Reg.VfDeviceId, 2), Is.EqualTo(0x1101u));
        g.W(Reg.VfDeviceId, 2, 0);
        Assert.That(g.Sriov.VfDeviceId, Is.EqualTo(0x1101));
    }

    [Test]
    public void SupportedPageSizes_IsReadOnly_AndMustIncludeTheRequiredSizes()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { SupportedPageSizes = 0x557 });
        Assert.That(f.R(Reg.SupportedPageSizes, 4), Is.EqualTo(0x557u));
        f.W(Reg.SupportedPageSizes, 4, 0);
        Assert.That(f.R(Reg.SupportedPageSizes, 4), Is.EqualTo(0x557u));
        Assert.That(() => new SriovCapability(new SriovOptions { SupportedPageSizes = 0x1 }), Throws.ArgumentException,
            "4K, 8K, 64K, 256K, 1M and 4M are mandatory (§9.3.3.12)");
    }

    [Test]
    public void SystemPageSize_DefaultsTo4K_AndAcceptsOneSupportedSize()
    {
        var f = new PfFixture();
        Assert.That(f.R(Reg.SystemPageSize, 4), Is.EqualTo(1u), "default 4 KB (§9.3.3.13)");
        f.W(Reg.SystemPageSize, 4, 0x10);
        Assert.That(f.R(Reg.SystemPageSize, 4), Is.EqualTo(0x10u));
        Assert.That(f.Sriov.SystemPageSizeBytes, Is.EqualTo(64UL * 1024));
    }

    [TestCase(0x4u, TestName = "SystemPageSize_UnsupportedSize_IsIgnoredAndLogged")]
    [TestCase(0x11u, TestName = "SystemPageSize_TwoSizes_AreIgnoredAndLogged")]
    [TestCase(0x0u, TestName = "SystemPageSize_Zero_IsIgnoredAndLogged")]
    [TestCase(0x8000_0000u, TestName = "SystemPageSize_UnsupportedHighBit_IsIgnoredAndLogged")]
    public void SystemPageSize_BadValue_KeepsPrevious(uint value)
    {
        var f = new PfFixture();
        f.W(Reg.SystemPageSize, 4, 0x2); // 8K
        f.W(Reg.SystemPageSize, 4, value);
        Assert.That(f.R(Reg.SystemPageSize, 4), Is.EqualTo(0x2u));
        Assert.That(f.Logger.Count(Reg.LogPageSizeRejected), Is.EqualTo(1));
    }

    [Test]
    public void SystemPageSize_IsReadOnly_WhileVfEnableIsSet()
    {
        var f = new PfFixture();
        f.Enable(1);
        f.W(Reg.SystemPageSize, 4, 0x10);
        Assert.That(f.R(Reg.SystemPageSize, 4), Is.EqualTo(1u));
        Assert.That(f.Logger.Has(Reg.LogPageSizeWhileEnabled), Is.True);
    }

    [Test]
    public void VfBar_Sizing_ReturnsPerVfSize_WithTypeBits()
    {
        var f = new PfFixture();
        // VF BAR0/1: 64-bit prefetchable 16 KiB; type bits 1100b.
        Assert.That(f.R(Reg.VfBar0, 4), Is.EqualTo(0xCu));
        f.W(Reg.VfBar0, 4, 0xFFFF_FFFF);
        f.W(Reg.VfBar0 + 4, 4, 0xFFFF_FFFF);
        Assert.That(f.R(Reg.VfBar0, 4), Is.EqualTo(0xFFFF_C00Cu));
        Assert.That(f.R(Reg.VfBar0 + 4, 4), Is.EqualTo(0xFFFF_FFFFu));
        // VF BAR2: 32-bit non-prefetchable 4 KiB.
        f.W(Reg.VfBar0 + 8, 4, 0xFFFF_FFFF);
        Assert.That(f.R(Reg.VfBar0 + 8, 4), Is.EqualTo(0xFFFF_F000u));
        // Unimplemented VF BARs (3, 4, 5) read 0 and ignore writes.
        for (int i = 3; i < 6; i++)
        {
            f.W(Reg.VfBar0 + 4 * i, 4, 0xFFFF_FFFF);
            Assert.That(f.R(Reg.VfBar0 + 4 * i, 4), Is.Zero, $"VF BAR{i}");
        }
    }

    [Test]
    public void VfBar_16KBarWith64KSystemPageSize_SizesAs64K()
    {
        var f = new PfFixture();
        f.W(Reg.SystemPageSize, 4, 0x10); // 64 KiB pages
        f.W(Reg.VfBar0, 4, 0xFFFF_FFFF);
        f.W(Reg.VfBar0 + 4, 4, 0xFFFF_FFFF);
        ulong mask = f.R(Reg.VfBar0, 4) & ~0xFu | (ulong)f.R(Reg.VfBar0 + 4, 4) << 32;
        Assert.That(~mask + 1, Is.EqualTo(0x10000UL), "§9.3.3.13: each VF BAR is a multiple of, and aligned to, System Page Size");
        Assert.That(f.Sriov.VfBarSize(0), Is.EqualTo(0x10000UL));
        Assert.That(f.Sriov.VfBarSize(2), Is.EqualTo(0x10000UL), "the 4 KiB VF BAR2 also grows to 64 KiB");
    }

    [Test]
    public void VfBar_LargerThanPage_KeepsItsSize()
    {
        var o = PfFixture.DefaultOptions() with { VfBars = [new BarDefinition(0, BarKind.Memory64, 0x10_0000)], VfMsix = null };
        var f = new PfFixture(o);
        f.W(Reg.SystemPageSize, 4, 0x10);
        f.W(Reg.VfBar0, 4, 0xFFFF_FFFF);
        Assert.That(f.R(Reg.VfBar0, 4), Is.EqualTo(0xFFF0_0004u), "1 MiB stays 1 MiB with 64 KiB pages");
    }

    [Test]
    public void VfBar_SystemPageSizeChange_RealignsTheProgrammedAddress()
    {
        var f = new PfFixture();
        f.SetVfBar0(0x1_8000_4000);
        Assert.That(f.Sriov.VfBarBase(0), Is.EqualTo(0x1_8000_4000UL));
        f.W(Reg.SystemPageSize, 4, 0x10);
        Assert.That(f.Sriov.VfBarBase(0), Is.EqualTo(0x1_8000_0000UL), "address bits below 64 KiB are no longer implemented");
        f.W(Reg.SystemPageSize, 4, 0x1);
        f.SetVfBar0(0x1_8000_4000);
        Assert.That(f.Sriov.VfBarBase(0), Is.EqualTo(0x1_8000_4000UL), "back at 4 KiB the BAR takes 16 KiB alignment again");
    }

    [Test]
    public void VfBarOptions_RejectIoBars()
    {
        Assert.That(() => new SriovCapability(new SriovOptions { VfBars = [new BarDefinition(0, BarKind.Io, 0x100)] }),
            Throws.ArgumentException.With.Message.Contains("memory"));
    }

    [Test]
    public void VfMigrationStateArrayOffset_IsReadOnlyOption()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { VfMigrationCapable = true, VfMigrationStateArrayOffset = 0x8002 });
        Assert.That(f.R(Reg.MigrationStateArray, 4), Is.EqualTo(0x8002u));
        f.W(Reg.MigrationStateArray, 4, 0);
        Assert.That(f.R(Reg.MigrationStateArray, 4), Is.EqualTo(0x8002u));
        Assert.That(() => new SriovCapability(new SriovOptions { VfMigrationStateArrayOffset = 8 }), Throws.ArgumentException,
            "a migration field without VF Migration Capable is a model error");
    }

    [Test]
    public void SettleTime_AboveOneSecond_IsRejected()
    {
        Assert.That(() => new SriovCapability(new SriovOptions { VfEnableSettleTimeNs = 1_000_000_001 }), Throws.ArgumentException);
    }

    [Test]
    public void Lspci_DecodesTheCapability()
    {
        var f = new PfFixture(PfFixture.DefaultOptions(8), ari: true);
        f.W(Reg.SystemPageSize, 4, 0x1);
        f.SetVfBar0(0x2_0000_0000);
        f.W(Reg.VfBar0 + 8, 4, 0xE000_0000);
        f.Enable(4, ariHierarchy: true);
        string text = Capabilities.Lspci.DecodeOrIgnore((new Bdf(1, 0, 0), f.Pf));
        Assert.That(text, Does.Contain("Single Root I/O Virtualization (SR-IOV)"));
        Assert.That(text, Does.Contain("IOVCap:\tMigration- 10BitTagReq- Interrupt Message Number: 000"));
        Assert.That(text, Does.Contain("IOVCtl:\tEnable+ Migration- Interrupt- MSE+ ARIHierarchy+ 10BitTagReq-"));
        Assert.That(text, Does.Contain("Initial VFs: 8, Total VFs: 8, Number of VFs: 4, Function Dependency Link: 00"));
        Assert.That(text, Does.Contain("VF offset: 1, stride: 1, Device ID: 1101"));
        Assert.That(text, Does.Contain("Supported Page Size: 00000553, System Page Size: 00000001"));
        Assert.That(text, Does.Contain("Region 0: Memory at 0000000200000000 (64-bit, prefetchable)"));
        Assert.That(text, Does.Contain("Region 2: Memory at e0000000 (32-bit, non-prefetchable)"));
    }
}
