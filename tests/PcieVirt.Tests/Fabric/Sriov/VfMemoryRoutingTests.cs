using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Fabric.Sriov;

/// <summary>
/// Memory requests reach VF BAR space: VF n's BAR k decodes [VF BARk + (n−1) × size, + size) while the
/// PF's VF Enable and VF MSE are set (§9.3.3.3.4, §9.3.3.14), whatever the VF's own Command register says.
/// </summary>
[TestFixture]
public class VfMemoryRoutingTests
{
    const ulong VfBarSize = 0x4000, TableOffset = 0x2000;

    static (SriovFabric F, ulong VfBar0) Enabled(ushort total = 16, int numVfs = 16)
    {
        var f = new SriovFabric(totalVfs: total);
        var bar = f.Report!.Bars.Single(b => b.Register == BarRegister.VfBar && b.Index == 0);
        f.Enable(numVfs);
        f.Settle();
        return (f, bar.Base);
    }

    static byte[] Entry(ulong address, uint data, bool masked)
    {
        var e = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(e, address);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(8), data);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(12), masked ? 1u : 0u);
        return e;
    }

    /// <summary>Writes one MSI-X table entry as drivers do: aligned dwords (§7.7.2 allows only DWORD/QWORD accesses).</summary>
    static void WriteEntry(RootComplex rc, ulong at, ulong address, uint data, bool masked)
    {
        var e = Entry(address, data, masked);
        for (int i = 0; i < 16; i += 4)
            Assert.That(rc.MemoryWrite(at + (ulong)i, e.AsSpan(i, 4)), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void Firmware_SizesVfBarsForTotalVfs_AtTheSystemPageSize()
    {
        // Whatever System Page Size a previous owner left, firmware programs 4 KiB (bit 0, always
        // supported, §9.3.3.13) before sizing; the VF BAR resource is TotalVFs × the per-VF size.
        var f = new SriovFabric(totalVfs: 16, enumerate: false);
        f.Cap.Function.Config.Write(f.Cap.Offset + SriovFabric.SystemPageSize, 4, 0x10); // 64 KiB
        var report = new FirmwareEnumerator(f.Rc).Enumerate();
        var bar = report.Bars.Single(b => b.Register == BarRegister.VfBar && b.Index == 0);
        Assert.Multiple(() =>
        {
            Assert.That(f.Cap.SystemPageSize, Is.EqualTo(1u));
            Assert.That(bar.Size, Is.EqualTo(16 * VfBarSize));
            Assert.That(bar.Alignment, Is.EqualTo(VfBarSize));
            Assert.That(bar.Is64Bit && bar.Prefetchable, Is.True);
            Assert.That(bar.Assigned, Is.True);
            Assert.That(f.Cap.VfBarBase(0), Is.EqualTo(bar.Base));
            Assert.That(f.Cap.NumVfs, Is.Zero, "firmware leaves NumVFs at 0 after probing");
        });
    }

    [Test]
    public void HostWrite_ReachesAVfsMsixTable_ThroughTheVfBar()
    {
        var (f, vfBar0) = Enabled();
        int n = 11; // VF11: index 10
        ulong at = vfBar0 + (ulong)(n - 1) * VfBarSize + TableOffset + 16; // entry 1
        WriteEntry(f.Rc, at, 0xFEE0_1000, 0x4041, masked: false);
        var msix = f.Cap.VirtualFunctions[n - 1].FindCapability<MsixCapability>()!;
        Assert.That(msix.MessageAddress(1), Is.EqualTo(0xFEE0_1000UL));
        Assert.That(msix.MessageData(1), Is.EqualTo(0x4041u));
        Assert.That(f.Cap.VirtualFunctions[n - 2].FindCapability<MsixCapability>()!.MessageData(1), Is.Zero, "the neighbour VF is untouched");
        var back = new byte[8];
        Assert.That(f.Rc.MemoryRead(at + 8, back), Is.EqualTo(CompletionStatus.SuccessfulCompletion), "QWORD read of data + control");
        Assert.That(back, Is.EqualTo(Entry(0xFEE0_1000, 0x4041, masked: false)[8..]));
    }

    [Test]
    public void VfMsixMessage_CarriesTheVfsRequesterId()
    {
        var (f, vfBar0) = Enabled(numVfs: 4);
        var vf = f.Cap.VirtualFunctions[2];
        WriteEntry(f.Rc, vfBar0 + 2 * VfBarSize + TableOffset, 0xFEE0_0000, 0x51, masked: false);
        var msix = vf.FindCapability<MsixCapability>()!;
        f.W(vf.Bdf, PciRegs.Command, 2, (uint)PciCommand.BusMaster);
        f.W(vf.Bdf, msix.Offset + 2, 2, 0x8000); // MSI-X Enable
        Assert.That(msix.Trigger(0), Is.True);
        Assert.That(f.Rc.InterruptController.LastMessage, Is.EqualTo(new MsiMessage(vf.Bdf, 0xFEE0_0000, 0x51)));
    }

    [Test]
    public void VfMseClear_VfBarSpaceIsNotDecoded_ButThePfsOwnBarIs()
    {
        var (f, vfBar0) = Enabled(numVfs: 4);
        int at = f.Sriov();
        f.W(f.Pf.Bdf, at + SriovFabric.Control, 2, f.R(f.Pf.Bdf, at + SriovFabric.Control, 2) & ~SriovFabric.VfMse);
        var buf = new byte[4];
        Assert.That(f.Rc.MemoryRead(vfBar0 + TableOffset, buf), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(buf, Is.All.EqualTo(0xFF));
        Assert.That(f.Rc.MemoryRead(f.Pf.BarAddress(0) + 0x2000, buf), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void VfOwnCommandRegister_DoesNotGateItsMemoryDecoding()
    {
        // Memory Space Enable is hardwired 0 in a VF (§7.5.1.1.3); VF MSE in the PF governs.
        var (f, vfBar0) = Enabled(numVfs: 2);
        Assert.That(f.R(f.Cap.VirtualFunctions[0].Bdf, PciRegs.Command, 2) & 2, Is.Zero);
        Assert.That(f.Rc.MemoryRead(vfBar0 + TableOffset, new byte[4]), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void AddressPastTheLastEnabledVf_IsUnsupported()
    {
        // The resource covers TotalVFs (16) VFs; only NumVFs (4) decode.
        var (f, vfBar0) = Enabled(total: 16, numVfs: 4);
        Assert.That(f.Rc.MemoryRead(vfBar0 + 3 * VfBarSize, new byte[4]), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(f.Rc.MemoryRead(vfBar0 + 4 * VfBarSize, new byte[4]), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void VfBarSpace_IsGoneAfterVfEnableClears()
    {
        var (f, vfBar0) = Enabled(numVfs: 2);
        f.Disable();
        Assert.That(f.Rc.MemoryRead(vfBar0 + TableOffset, new byte[4]), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }
}
