using System.Buffers.Binary;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Pci.Capabilities;

namespace PcieVirt.Tests.Pci.Sriov;

/// <summary>A VF's own configuration space, BAR space, MSI-X and FLR (§7.5.1 VF attributes, §9.3.3.14, §7.5.3.4).</summary>
[TestFixture]
public class VirtualFunctionTests
{
    const ulong VfBar0 = 0x2_0000_0000, VfBar2 = 0xE000_0000;

    PfFixture _f = null!;
    IReadOnlyList<VirtualFunction> _vfs = null!;

    [SetUp]
    public void SetUp()
    {
        _f = new PfFixture(ari: true, bdf: new Bdf(2, 0, 0));
        _f.Pf.SetMultiFunction(true);
        _f.SetVfBar0(VfBar0);
        _f.W(Reg.VfBar0 + 8, 4, (uint)VfBar2);
        _vfs = _f.Enable(3, ariHierarchy: true);
    }

    VirtualFunction Vf(int i) => _vfs[i];

    // ---- Header ----

    [Test]
    public void VendorAndDeviceId_ReadFFFF_AndThePresentedIdsComeFromThePf()
    {
        Assert.That(Vf(0).R(PciRegs.VendorId, 4), Is.EqualTo(0xFFFF_FFFFu), "§7.5.1.1.1-2");
        Assert.That(Vf(0).PresentedVendorId, Is.EqualTo(0x1af4));
        Assert.That(Vf(0).PresentedDeviceId, Is.EqualTo(0x1101), "the PF's VF Device ID");
    }

    [Test]
    public void ClassRevisionAndSubsystem_AreThePfs()
    {
        var vf = Vf(1);
        Assert.That(vf.R(PciRegs.ClassCode, 1) | vf.R(PciRegs.ClassCode + 1, 2) << 8, Is.EqualTo(0x010802u));
        Assert.That(vf.R(PciRegs.RevisionId, 1), Is.EqualTo(3u));
        Assert.That(vf.R(PciRegs.SubsystemVendorId, 2), Is.EqualTo(0x1af4u));
        Assert.That(vf.R(PciRegs.SubsystemId, 2), Is.EqualTo(0x0042u));
    }

    [Test]
    public void RevisionAndSubsystemId_MayDifferFromThePf()
    {
        var f = new PfFixture(PfFixture.DefaultOptions() with { VfRevisionId = 9, VfSubsystemId = 0x77 });
        var vf = f.Enable(1)[0];
        Assert.That(vf.R(PciRegs.RevisionId, 1), Is.EqualTo(9u));
        Assert.That(vf.R(PciRegs.SubsystemId, 2), Is.EqualTo(0x77u));
        Assert.That(vf.R(PciRegs.SubsystemVendorId, 2), Is.EqualTo(0x1af4u), "Subsystem Vendor ID must match the PF's");
    }

    [Test]
    public void HeaderType_IsZero_EvenWhenThePfIsMultiFunction()
    {
        Assert.That(_f.Pf.R(PciRegs.HeaderType, 1), Is.EqualTo(0x80u));
        Assert.That(Vf(0).R(PciRegs.HeaderType, 1), Is.Zero, "§7.5.1.1.9: VF ROZ");
    }

    [Test]
    public void Command_OnlyBusMasterEnableIsWritable()
    {
        Vf(0).W(PciRegs.Command, 2, 0xFFFF);
        Assert.That(Vf(0).R(PciRegs.Command, 2), Is.EqualTo((uint)PciCommand.BusMaster),
            "I/O, Memory Space and Interrupt Disable are VF ROZ; Parity Error Response and SERR# are VF RsvdP (§7.5.1.1.3)");
    }

    [Test]
    public void Status_HasCapabilitiesList_AndVfOwnErrorBits()
    {
        var vf = Vf(0);
        Assert.That(vf.R(PciRegs.Status, 2) & (uint)PciStatus.CapabilitiesList, Is.Not.Zero);
        vf.RaiseStatus(PciStatus.ReceivedMasterAbort);
        Assert.That(Vf(1).R(PciRegs.Status, 2) & (uint)PciStatus.ReceivedMasterAbort, Is.Zero, "each VF reports its own errors (§6.2.9)");
        vf.W(PciRegs.Status, 2, (uint)PciStatus.ReceivedMasterAbort);
        Assert.That(vf.R(PciRegs.Status, 2) & (uint)PciStatus.ReceivedMasterAbort, Is.Zero, "RW1C");
    }

    [Test]
    public void Bars_ReadZero_AndIgnoreWrites()
    {
        var vf = Vf(0);
        for (int i = 0; i < 6; i++)
        {
            vf.W(PciRegs.Bar0 + 4 * i, 4, 0xFFFF_FFFF);
            Assert.That(vf.R(PciRegs.Bar0 + 4 * i, 4), Is.Zero, $"BAR{i} (§7.5.1.2.1: hardwired to zero in VFs)");
        }
        vf.W(PciRegs.ExpansionRomType0, 4, 0xFFFF_FFFF);
        Assert.That(vf.R(PciRegs.ExpansionRomType0, 4), Is.Zero);
    }

    [Test]
    public void CacheLineInterruptLineAndPin_ReadZero()
    {
        var vf = Vf(0);
        vf.W(PciRegs.CacheLineSize, 1, 0x10);
        vf.W(PciRegs.InterruptLine, 1, 0x0B);
        Assert.That(vf.R(PciRegs.CacheLineSize, 1), Is.Zero);
        Assert.That(vf.R(PciRegs.InterruptLine, 1), Is.Zero);
        Assert.That(vf.R(PciRegs.InterruptPin, 1), Is.Zero, "VFs must not implement INTx (§6.1)");
        Assert.That(_f.Pf.R(PciRegs.InterruptPin, 1), Is.EqualTo(1u), "while the PF may");
    }

    [Test]
    public void Capabilities_PcieWithFlr_MsiX_Ari_AndNoSriov()
    {
        var vf = Vf(0);
        Assert.That(vf.FindCapability<PciExpressCapability>(), Is.Not.Null);
        Assert.That(vf.FindCapability<MsixCapability>(), Is.Not.Null);
        Assert.That(vf.FindCapability<AriCapability>(), Is.Not.Null, "the PF has ARI");
        Assert.That(vf.FindCapability<SriovCapability>(), Is.Null);
        var pcie = vf.FindCapability<PciExpressCapability>()!;
        Assert.That(vf.R(pcie.Offset + Reg.PcieDevCap, 4) & 1u << 28, Is.Not.Zero, "Function Level Reset Capability");
        Assert.That(vf.R(pcie.Offset + Reg.PcieLinkCap, 4) & 0x3F0, Is.EqualTo(8u << 4), "Link Capabilities are the PF's (x8)");

        var noAri = new PfFixture().Enable(1)[0];
        Assert.That(noAri.FindCapability<AriCapability>(), Is.Null, "no ARI in the VF when the PF has none");
    }

    [Test]
    public void PcieDeviceControl_IsRsvdP_AndLinkStatusRsvdZ()
    {
        var vf = Vf(0);
        var pcie = vf.FindCapability<PciExpressCapability>()!;
        vf.W(pcie.Offset + Reg.PcieDevCtl, 2, 0x7FFF);
        Assert.That(vf.R(pcie.Offset + Reg.PcieDevCtl, 2), Is.Zero, "§7.5.3.4: the PF's Device Control applies to its VFs");
        Assert.That(vf.R(pcie.Offset + Reg.PcieLinkSta, 2), Is.Zero, "§7.5.3.8");
        Assert.That(_f.Pf.R(_f.Pf.FindCapability<PciExpressCapability>()!.Offset + Reg.PcieLinkSta, 2), Is.Not.Zero);
    }

    [Test]
    public void Lspci_DecodesAVfDump()
    {
        string text = Capabilities.Lspci.DecodeOrIgnore((Vf(0).Bdf, Vf(0)));
        Assert.That(text, Does.Contain("Capabilities: [40] Express (v2) Endpoint"));
        Assert.That(text, Does.Contain("FLReset+"));
        Assert.That(text, Does.Contain("MSI-X: Enable- Count=4 Masked-"));
        Assert.That(text, Does.Contain("Alternative Routing-ID Interpretation (ARI)"));
        Assert.That(text, Does.Not.Contain("Region 0"), "a VF's own BARs read 0");
    }

    // ---- BAR space ----

    [Test]
    public void Bars_AreThePfsVfBarsAtIndexTimesSize()
    {
        var vf = Vf(2);
        Assert.That(vf.Bars[0]!.Size, Is.EqualTo(0x4000UL));
        Assert.That(vf.Bars[2]!.Size, Is.EqualTo(0x1000UL));
        Assert.That(vf.BarAddress(0), Is.EqualTo(VfBar0 + 2 * 0x4000UL));
        Assert.That(vf.BarAddress(2), Is.EqualTo(VfBar2 + 2 * 0x1000UL));
        Assert.That(_f.Sriov.VfBarAddress(0, 2), Is.EqualTo(vf.BarAddress(0)));
        Assert.That(vf.BarAddress(1), Is.Zero, "upper half of a 64-bit pair, no BAR of its own");
    }

    [Test]
    public void MemoryDecode_FollowsVfMse_NotTheVfsCommandRegister()
    {
        var vf = Vf(1);
        ulong address = VfBar0 + 0x4000 + 0x123;
        Assert.That(vf.TryDecodeMemory(address, out int bar, out ulong off), Is.True);
        Assert.That((bar, off), Is.EqualTo((0, 0x123UL)));
        Assert.That(vf.MemorySpaceEnabled, Is.False, "its own Memory Space Enable is hardwired 0");

        _f.Control(Reg.VfEnable | Reg.AriCapableHierarchy); // VF MSE off
        Assert.That(vf.TryDecodeMemory(address, out _, out _), Is.False, "§9.3.3.3.4");
        Assert.That(_f.Sriov.TryDecodeVfMemory(address, out _, out _, out _), Is.False);
        _f.Control(Reg.VfEnable | Reg.VfMse | Reg.AriCapableHierarchy);
        Assert.That(vf.TryDecodeMemory(address, out _, out _), Is.True);
    }

    [Test]
    public void MemoryDecode_EachVfOwnsItsSlice()
    {
        ulong address = VfBar2 + 2 * 0x1000 + 8;
        Assert.That(Vf(0).TryDecodeMemory(address, out _, out _), Is.False);
        Assert.That(Vf(2).TryDecodeMemory(address, out int bar, out ulong off), Is.True);
        Assert.That((bar, off), Is.EqualTo((2, 8UL)));
        Assert.That(_f.Sriov.TryDecodeVfMemory(address, out var vf, out bar, out off), Is.True);
        Assert.That(vf, Is.SameAs(Vf(2)));
        Assert.That((bar, off), Is.EqualTo((2, 8UL)));
        Assert.That(_f.Sriov.TryDecodeVfMemory(VfBar2 + 3 * 0x1000, out _, out _, out _), Is.False, "past NumVFs × size");
    }

    [Test]
    public void MemoryDecode_WithLargerSystemPageSize_UsesThePageRoundedSize()
    {
        var f = new PfFixture(bdf: new Bdf(2, 0, 0));
        f.W(Reg.SystemPageSize, 4, 0x10); // 64 KiB
        f.SetVfBar0(0x1_0000_0000);
        var vfs = f.Enable(2);
        Assert.That(vfs[1].BarAddress(0), Is.EqualTo(0x1_0001_0000UL));
        Assert.That(vfs[1].Bars[0]!.Size, Is.EqualTo(0x10000UL));
        Assert.That(vfs[0].TryDecodeMemory(0x1_0000_8000, out _, out ulong off), Is.True, "the 64 KiB slice, not just 16 KiB");
        Assert.That(off, Is.EqualTo(0x8000UL));
    }

    [Test]
    public void MemoryDecode_UnassignedVfBar_DecodesNothing()
    {
        var f = new PfFixture();
        var vfs = f.Enable(2);
        Assert.That(vfs[1].BarAddress(0), Is.Zero);
        Assert.That(vfs[1].TryDecodeMemory(0x4000, out _, out _), Is.False);
    }

    // ---- MSI-X in VF BAR space ----

    void WriteVfBar(VirtualFunction vf, ulong address, uint value)
    {
        Assert.That(vf.TryDecodeMemory(address, out int bar, out ulong off), Is.True);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        vf.BarWrite(bar, off, b);
    }

    uint ReadVfBar(VirtualFunction vf, ulong address)
    {
        Assert.That(vf.TryDecodeMemory(address, out int bar, out ulong off), Is.True);
        Span<byte> b = stackalloc byte[4];
        vf.BarRead(bar, off, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Programs MSI-X entry <paramref name="vector"/> of a VF through its BAR0 (table at 0x2000) and enables MSI-X.</summary>
    void ProgramMsix(VirtualFunction vf, int vector, uint address, uint data)
    {
        ulong entry = vf.BarAddress(0) + 0x2000 + 16UL * (ulong)vector;
        WriteVfBar(vf, entry, address);
        WriteVfBar(vf, entry + 4, 0);
        WriteVfBar(vf, entry + 8, data);
        WriteVfBar(vf, entry + 12, 0); // unmask
        var msix = vf.FindCapability<MsixCapability>()!;
        vf.W(msix.Offset + 2, 2, 0x8000);
    }

    [Test]
    public void MsiX_TableIsAccessedThroughTheVfBar_AndPerVf()
    {
        ProgramMsix(Vf(1), 2, 0xFEE0_1000, 0x4021);
        Assert.That(ReadVfBar(Vf(1), Vf(1).BarAddress(0) + 0x2000 + 32 + 8), Is.EqualTo(0x4021u));
        Assert.That(ReadVfBar(Vf(0), Vf(0).BarAddress(0) + 0x2000 + 32 + 8), Is.Zero, "VF 1's table is its own");
        Assert.That(ReadVfBar(Vf(0), Vf(0).BarAddress(0) + 0x2000 + 32 + 12), Is.EqualTo(1u), "still masked");
    }

    [Test]
    public void MsiX_IsDeliveredWithTheVfsRequesterId()
    {
        var vf = Vf(2);
        ProgramMsix(vf, 1, 0xFEE0_2000, 0x77);
        var msix = vf.FindCapability<MsixCapability>()!;
        Assert.That(msix.Trigger(1), Is.False, "Bus Master Enable clear: the vector goes pending");
        Assert.That(_f.Upstream.Writes, Is.Empty);
        vf.EnableBusMasterOnly();
        Assert.That(_f.Upstream.Writes, Has.Count.EqualTo(1), "setting BME releases the pending vector");
        var w = _f.Upstream.Writes[0];
        Assert.That(w.Requester, Is.EqualTo(Bdf.FromBusDevFn(2, 3)), "requester ID = the VF's routing ID");
        Assert.That((w.Address, w.Data), Is.EqualTo((0xFEE0_2000UL, 0x77u)));
    }

    // ---- FLR ----

    [Test]
    public void VfFlr_ResetsOnlyThatVf()
    {
        ProgramMsix(Vf(0), 0, 0xFEE0_0000, 0x10);
        ProgramMsix(Vf(1), 0, 0xFEE0_0000, 0x11);
        Vf(0).EnableBusMasterOnly();
        Vf(1).EnableBusMasterOnly();
        _f.Pf.EnableBusMaster();

        var pcie = Vf(0).FindCapability<PciExpressCapability>()!;
        Vf(0).W(pcie.Offset + Reg.PcieDevCtl, 2, 0x8000); // Initiate FLR in VF 1 (index 0)

        Assert.That(Vf(0).BusMasterEnabled, Is.False, "the VF's Command is back to 0");
        Assert.That(Vf(0).FindCapability<MsixCapability>()!.IsEnabled, Is.False);
        Assert.That(ReadVfBar(Vf(0), Vf(0).BarAddress(0) + 0x2000 + 12), Is.EqualTo(1u), "its MSI-X entries are masked again");
        Assert.That(Vf(1).BusMasterEnabled, Is.True, "the other VFs keep their state");
        Assert.That(ReadVfBar(Vf(1), Vf(1).BarAddress(0) + 0x2000 + 8), Is.EqualTo(0x11u));
        Assert.That(_f.Pf.BusMasterEnabled, Is.True, "and so does the PF");
        Assert.That(_f.Sriov.VirtualFunctions, Has.Count.EqualTo(3), "VF FLR does not remove the VF");
        Assert.That(_f.Sriov.VfEnable, Is.True);
    }
}
