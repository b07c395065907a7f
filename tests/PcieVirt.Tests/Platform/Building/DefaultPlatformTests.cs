using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.Building;

/// <summary>
/// The embedded default platform after boot: the RAID PF's capabilities as the model describes them,
/// and host memory requests reaching functions through root ports and a switch.
/// </summary>
[TestFixture]
public class DefaultPlatformTests
{
    PcieSystem _system = null!;
    HostSystem Host => _system.Hosts[0];
    RootComplex Rc => Host.RootComplex;
    static readonly HostModel Model = PlatformModel.LoadDefault().Hosts[0];
    static FunctionModel Raid => Model.AllFunctions().Single(f => f.Name == "raid0");

    [SetUp]
    public void Boot() => _system = PcieSystem.Boot(PlatformModel.LoadDefault());

    PciAddress AddressOf(string name) =>
        new(Rc.Segment, Rc.AttachedFunctions.Single(x => x.Name == name).Bdf);

    uint Read(PciAddress a, int offset, int width)
    {
        Assert.That(Host.Read(a, offset, width, out uint v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        return v;
    }

    /// <summary>(ID, offset) of each capability in list order, walked through config reads as software does (§7.5.2, §7.6.2).</summary>
    List<(int Id, int Offset)> LegacyList(PciAddress a)
    {
        var list = new List<(int, int)>();
        Assert.That(Read(a, 0x06, 2) & 0x10, Is.Not.Zero, "Status: Capabilities List");
        for (int p = (int)Read(a, 0x34, 1) & ~3; p != 0 && list.Count < 48; p = (int)(Read(a, p, 2) >> 8) & ~3)
            list.Add(((int)Read(a, p, 1), p));
        return list;
    }

    List<(int Id, int Offset)> ExtendedList(PciAddress a)
    {
        var list = new List<(int, int)>();
        for (int p = 0x100; p != 0 && list.Count < 960; )
        {
            uint h = Read(a, p, 4);
            if (h == 0) break;
            list.Add(((int)(h & 0xFFFF), p));
            p = (int)(h >> 20) & ~3;
        }
        return list;
    }

    /// <summary>
    /// The capabilities the model gives the RAID PF, with their spec IDs (PM 01h, MSI 05h, PCI Express
    /// 10h, MSI-X 11h; AER 0001h, ACS 000Dh, ARI 000Eh, DSN 0003h), in the builder's order: the legacy
    /// list PM, MSI, PCIe, MSI-X and the extended list AER, ACS, ARI, DSN. (SR-IOV, 0010h, is left out
    /// of the comparison: it is built by the SR-IOV work.)
    /// </summary>
    [Test]
    public void Raid_pf_capabilities_follow_the_model_with_spec_ids()
    {
        var caps = Raid.Capabilities;
        var legacy = new List<int>();
        if (caps.PowerManagement != null) legacy.Add(0x01);
        if (caps.Msi != null) legacy.Add(0x05);
        legacy.Add(0x10);
        if (caps.Msix != null) legacy.Add(0x11);
        var extended = new List<int>();
        if (caps.Aer != null) extended.Add(0x0001);
        if (caps.Acs != null) extended.Add(0x000D);
        if (caps.Ari) extended.Add(0x000E);
        if (caps.DeviceSerialNumber != null) extended.Add(0x0003);
        Assert.That(legacy, Has.Count.EqualTo(4), "the default RAID PF has PM, MSI, PCIe and MSI-X");
        Assert.That(extended, Has.Count.EqualTo(4), "and AER, ACS, ARI, DSN");

        var a = AddressOf("raid0");
        Assert.That(LegacyList(a).Select(c => c.Id), Is.EqualTo(legacy));
        Assert.That(ExtendedList(a).Select(c => c.Id).Where(id => id != 0x0010), Is.EqualTo(extended));
    }

    [Test]
    public void Raid_pf_capability_registers_hold_the_model_values()
    {
        var a = AddressOf("raid0");
        var cap = LegacyList(a).ToDictionary(c => c.Id, c => c.Offset);
        var ext = ExtendedList(a).ToDictionary(c => c.Id, c => c.Offset);
        var m = Raid.Capabilities;
        Assert.Multiple(() =>
        {
            // PMC (§7.5.2.1): PME_Support bits 15:11 (D0, D1, D2, D3hot, D3cold), D1/D2 support bits 9/10.
            uint pmc = Read(a, cap[0x01] + 2, 2);
            Assert.That(pmc >> 11, Is.EqualTo((uint)m.PowerManagement!.PmeSupport));
            Assert.That((pmc >> 9) & 3, Is.EqualTo((m.PowerManagement.D1Support ? 1u : 0) | (m.PowerManagement.D2Support ? 2u : 0)));
            Assert.That((Read(a, cap[0x01] + 4, 2) >> 3) & 1, Is.EqualTo(m.PowerManagement.NoSoftReset ? 1 : 0), "No_Soft_Reset");
            // MSI Message Control (§7.7.1.2): Multiple Message Capable 3:1, 64-bit 7, Per-Vector Masking 8.
            uint msi = Read(a, cap[0x05] + 2, 2);
            Assert.That((msi >> 1) & 7, Is.EqualTo(m.Msi!.MultipleMessageCapable));
            Assert.That((msi >> 7) & 1, Is.EqualTo(m.Msi.Is64Bit ? 1 : 0));
            Assert.That((msi >> 8) & 1, Is.EqualTo(m.Msi.PerVectorMask ? 1 : 0));
            // MSI-X (§7.7.2): Table Size is N-1 in bits 10:0; Table/PBA offset with BIR in bits 2:0.
            Assert.That(Read(a, cap[0x11] + 2, 2) & 0x7FF, Is.EqualTo(m.Msix!.TableSize - 1));
            Assert.That(Read(a, cap[0x11] + 4, 4), Is.EqualTo(m.Msix.TableOffset | (uint)m.Msix.TableBar));
            Assert.That(Read(a, cap[0x11] + 8, 4), Is.EqualTo(m.Msix.PbaOffset | (uint)m.Msix.PbaBar));
            // Device Capabilities (§7.5.3.3): Max_Payload_Size Supported 2:0, Extended Tag 5, FLR 28.
            uint devCap = Read(a, cap[0x10] + 4, 4);
            Assert.That(devCap & 7, Is.EqualTo(m.Pcie.MaxPayloadEncoding));
            Assert.That((devCap >> 5) & 1, Is.EqualTo(m.Pcie.ExtendedTag ? 1 : 0));
            Assert.That((devCap >> 28) & 1, Is.EqualTo(m.Pcie.Flr ? 1 : 0));
            // AER Capabilities and Control (§7.8.4.7): ECRC Generation Capable 5, ECRC Check Capable 7.
            uint aer = Read(a, ext[0x0001] + 0x18, 4);
            Assert.That((aer >> 5) & 1, Is.EqualTo(m.Aer!.EcrcGeneration ? 1 : 0));
            Assert.That((aer >> 7) & 1, Is.EqualTo(m.Aer.EcrcCheck ? 1 : 0));
            // ACS Capability (§7.7.8.2) bits 6:0 in the model's feature order.
            Assert.That(Read(a, ext[0x000D] + 4, 2) & 0x7F, Is.EqualTo((uint)m.Acs!.Features));
            // ARI Capability (§7.8.8): Next Function Number 15:8 is 0 for the last (only) PF.
            Assert.That(Read(a, ext[0x000E] + 4, 2) >> 8, Is.Zero);
            // DSN (§7.9.3): the 64-bit serial number, lower dword first.
            Assert.That((ulong)Read(a, ext[0x0003] + 8, 4) << 32 | Read(a, ext[0x0003] + 4, 4), Is.EqualTo(m.DeviceSerialNumber));
        });
    }

    BarAssignment Bar(string function, int index) =>
        Host.Enumeration!.Bars.Single(b => b.Address == AddressOf(function) && b.Register == BarRegister.Bar && b.Index == index);

    static byte[] Qword(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }

    uint ReadDword(ulong address)
    {
        var b = new byte[4];
        Assert.That(Rc.MemoryRead(address, b), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"read at 0x{address:x}");
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    void WriteDword(ulong address, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Assert.That(Rc.MemoryWrite(address, b), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"write at 0x{address:x}");
    }

    /// <summary>
    /// A host write to BAR0 + Table Offset + 16 × n reaches the RAID PF's MSI-X table through the root
    /// port (memory window, Memory Space Enable) and reads back; entries start masked (Vector Control
    /// bit 0 set after reset, §7.7.2.4); only the Mask bit of Vector Control is writable.
    /// </summary>
    [TestCase("raid0")]
    [TestCase("nvme0")]
    public void Host_memory_write_reaches_the_msix_table_and_reads_back(string function)
    {
        var msix = Model.AllFunctions().Single(f => f.Name == function).Capabilities.Msix!;
        var bar = Bar(function, msix.TableBar);
        ulong entry3 = bar.Base + msix.TableOffset + 3 * 16;

        // Software must use aligned DWORD or QWORD accesses to the table (§7.7.2).
        Assert.That(ReadDword(entry3 + 12), Is.EqualTo(1u), "masked after reset");
        Assert.That(Rc.MemoryWrite(entry3, Qword(0x0000_0000_FEE0_1000)), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        WriteDword(entry3 + 8, 0x4021);
        WriteDword(entry3 + 12, 0);
        var back = new byte[8];
        Assert.That(Rc.MemoryRead(entry3, back), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(back), Is.EqualTo(0xFEE0_1000UL));
        Assert.That(ReadDword(entry3 + 8), Is.EqualTo(0x4021u));
        Assert.That(ReadDword(entry3 + 12), Is.EqualTo(0u), "unmasked");
        WriteDword(entry3 + 12, 0xFFFF_FFFF);
        Assert.That(ReadDword(entry3 + 12), Is.EqualTo(1u), "only the Mask bit of Vector Control is writable");
        Assert.That(ReadDword(entry3 + 16 + 12), Is.EqualTo(1u), "the next entry is untouched");

        // The PBA: nothing pending.
        var pba = new byte[8];
        Assert.That(Rc.MemoryRead(Bar(function, msix.PbaBar).Base + msix.PbaOffset, pba), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(pba, Is.All.Zero);
    }

    [Test]
    public void Memory_space_disabled_or_unclaimed_address_completes_with_unsupported_request()
    {
        var nvme = AddressOf("nvme0");
        var bar = Bar("nvme0", 0);
        var buf = new byte[4];
        // Memory Space Enable off (§7.5.1.1.3): the function no longer claims its BAR.
        uint command = Read(nvme, 4, 2);
        Host.Write(nvme, 4, 2, command & ~2u);
        Assert.That(Rc.MemoryRead(bar.Base, buf), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(buf, Is.All.EqualTo(0xFF), "a UR read returns all ones");
        Host.Write(nvme, 4, 2, command);
        Assert.That(Rc.MemoryRead(bar.Base, buf), Is.EqualTo(CompletionStatus.SuccessfulCompletion));

        // An address in the 32-bit aperture outside every bridge window.
        var windows = Host.Enumeration!.Bridges.Select(b => b.MemoryWindow).Where(w => !w.IsEmpty).ToList();
        ulong free = Rc.Mmio32.Limit - 0xFFF;
        Assert.That(windows.Any(w => w.Contains(free)), Is.False);
        Assert.That(Rc.MemoryRead(free, buf), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void Reenumeration_from_the_shell_keeps_the_same_assignment()
    {
        var first = Host.Enumeration!;
        var again = Host.Enumerate();
        Assert.That(again.Failures, Is.Empty);
        Assert.That(again.Bars.Select(b => b.ToString()), Is.EqualTo(first.Bars.Select(b => b.ToString())));
        Assert.That(again.Bridges, Is.EqualTo(first.Bridges));
    }
}
