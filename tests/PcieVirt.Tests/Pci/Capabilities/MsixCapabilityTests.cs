using System.Buffers.Binary;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class MsixCapabilityTests
{
    const ulong Table = 0x2000, Pba = 0x3000;
    RecordingUpstream _up = null!;
    MsixCapability _msix = null!;
    EndpointFunction _f = null!;

    [SetUp]
    public void SetUp()
    {
        _up = new RecordingUpstream();
        _msix = new MsixCapability(tableSize: 70, tableBar: 0, tableOffset: (uint)Table, pbaBar: 0, pbaOffset: (uint)Pba);
        _f = Fn.Endpoint(_msix);
        _f.Upstream = _up;
        _f.EnableBusMaster();
    }

    uint ReadTable(int vector, int dword)
    {
        Span<byte> b = stackalloc byte[4];
        _f.BarRead(0, Table + (ulong)(16 * vector + 4 * dword), b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    void WriteTable(int vector, int dword, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _f.BarWrite(0, Table + (ulong)(16 * vector + 4 * dword), b);
    }

    void Program(int vector, ulong address, uint data, bool masked = false)
    {
        Span<byte> q = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(q, address);
        _f.BarWrite(0, Table + (ulong)(16 * vector), q); // QWORD write of the address
        WriteTable(vector, 2, data);
        WriteTable(vector, 3, masked ? 1u : 0u);
    }

    ulong ReadPba(int qword)
    {
        Span<byte> b = stackalloc byte[8];
        _f.BarRead(0, Pba + (ulong)(8 * qword), b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    void Control(bool enable, bool functionMask) =>
        _f.W(_msix.Offset + 2, 2, (enable ? 0x8000u : 0) | (functionMask ? 0x4000u : 0));

    [Test]
    public void CapabilityRegisters_EncodeSizeBirAndOffsets()
    {
        int at = _msix.Offset;
        Assert.That(_f.R(at + 2, 2), Is.EqualTo(69u), "Table Size is N-1");
        Assert.That(_f.R(at + 4, 4), Is.EqualTo((uint)Table | 0));
        Assert.That(_f.R(at + 8, 4), Is.EqualTo((uint)Pba | 0));
        _f.W(at + 2, 2, 0xFFFF);
        Assert.That(_f.R(at + 2, 2), Is.EqualTo(0xC000u | 69), "only Enable and Function Mask are writable");
        _f.W(at + 4, 4, 0);
        Assert.That(_f.R(at + 4, 4), Is.EqualTo((uint)Table), "Table Offset/BIR is RO");
        Assert.That(_msix.PbaLength, Is.EqualTo(16UL), "70 vectors need two PBA QWORDs");
    }

    [Test]
    public void Table_ResetsMasked_AndIsReadWriteThroughBar()
    {
        Assert.That(ReadTable(3, 3), Is.EqualTo(1u), "Vector Control Mask set after reset");
        Program(3, 0x1_FEE0_0004, 0xABCD);
        Assert.That(ReadTable(3, 0), Is.EqualTo(0xFEE0_0004u));
        Assert.That(ReadTable(3, 1), Is.EqualTo(1u));
        Assert.That(ReadTable(3, 2), Is.EqualTo(0xABCDu));
        Assert.That(ReadTable(3, 3), Is.Zero);
        Span<byte> q = stackalloc byte[8];
        _f.BarRead(0, Table + 48, q);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(q), Is.EqualTo(0x1_FEE0_0004UL), "QWORD read of the address");
    }

    [Test]
    public void Table_AddressLowBitsAndReservedControlBitsReadZero()
    {
        WriteTable(0, 0, 0xFEE0_0003);
        WriteTable(0, 3, 0xFFFF_FFFE);
        Assert.That(ReadTable(0, 0), Is.EqualTo(0xFEE0_0000u));
        Assert.That(ReadTable(0, 3), Is.Zero);
    }

    [Test]
    public void Table_UnalignedOrOddSizedWrite_IsDropped()
    {
        Program(1, 0xFEE0_0000, 0x11);
        _f.BarWrite(0, Table + 16 + 8, new byte[] { 0x99, 0x99 });
        _f.BarWrite(0, Table + 16 + 2, new byte[] { 1, 2, 3, 4 });
        Assert.That(ReadTable(1, 2), Is.EqualTo(0x11u));
        Assert.That(ReadTable(1, 0), Is.EqualTo(0xFEE0_0000u));
    }

    [Test]
    public void Trigger_Disabled_DoesNothing()
    {
        Program(0, 0xFEE0_0000, 0x21);
        Assert.That(_msix.Trigger(0), Is.False);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(_msix.IsPending(0), Is.False);
    }

    [Test]
    public void Trigger_EnabledUnmasked_WritesEntryDataToEntryAddress()
    {
        Program(65, 0x2_FEE0_1000, 0x4041);
        Control(enable: true, functionMask: false);
        Assert.That(_msix.Trigger(65), Is.True);
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        Assert.That(_up.Writes[0].Address, Is.EqualTo(0x2_FEE0_1000UL));
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x4041u));
        Assert.That(_up.Writes[0].Requester, Is.EqualTo(_f.Bdf));
    }

    [Test]
    public void VectorMask_SetsPendingInPba_UnmaskDeliversAndClears()
    {
        Program(66, 0xFEE0_0000, 0x42, masked: true);
        Control(enable: true, functionMask: false);
        Assert.That(_msix.Trigger(66), Is.False);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(ReadPba(1), Is.EqualTo(1UL << 2), "vector 66 is bit 2 of the second QWORD");
        WriteTable(66, 3, 0);
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x42u));
        Assert.That(ReadPba(1), Is.Zero);
    }

    [Test]
    public void FunctionMask_HoldsAllVectors_ClearingItDeliversPending()
    {
        Program(1, 0xFEE0_0000, 0x1);
        Program(2, 0xFEE0_0000, 0x2);
        Program(3, 0xFEE0_0000, 0x3, masked: true);
        Control(enable: true, functionMask: true);
        _msix.Trigger(1);
        _msix.Trigger(2);
        _msix.Trigger(3);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(ReadPba(0), Is.EqualTo(0b1110UL));
        Control(enable: true, functionMask: false);
        Assert.That(_up.Writes.Select(w => w.Data), Is.EqualTo(new uint[] { 1, 2 }), "vector 3 is still masked");
        Assert.That(ReadPba(0), Is.EqualTo(0b1000UL));
    }

    [Test]
    public void BusMasterClear_KeepsPending_SettingDelivers()
    {
        Program(5, 0xFEE0_0000, 0x55);
        Control(enable: true, functionMask: false);
        _f.EnableBusMaster(false);
        Assert.That(_msix.Trigger(5), Is.False);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(_msix.IsPending(5), Is.True);
        _f.EnableBusMaster();
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        Assert.That(_msix.IsPending(5), Is.False);
    }

    [TestCase(1, Description = "byte write of Command")]
    [TestCase(4, Description = "DWORD write of Command + Status")]
    public void BusMasterSetByAnyAccessWidth_DeliversPending(int width)
    {
        Program(5, 0xFEE0_0000, 0x55);
        Control(enable: true, functionMask: false);
        _f.W(0x04, 2, 0x2); // memory space only
        _msix.Trigger(5);
        Assert.That(_up.Writes, Is.Empty);
        _f.W(0x04, width, 0x6);
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
    }

    [Test]
    public void Pba_IsReadOnly()
    {
        Program(0, 0xFEE0_0000, 0, masked: true);
        Control(enable: true, functionMask: false);
        _msix.Trigger(0);
        _f.BarWrite(0, Pba, new byte[8]);
        Assert.That(ReadPba(0), Is.EqualTo(1UL));
    }

    [Test]
    public void Flr_MasksTableClearsPbaAndDisables()
    {
        Program(7, 0xFEE0_0000, 0x77, masked: true);
        Control(enable: true, functionMask: false);
        _msix.Trigger(7);
        _f.Reset(ResetKind.FunctionLevel);
        Assert.That(_msix.IsEnabled, Is.False);
        Assert.That(_msix.IsVectorMasked(7), Is.True);
        Assert.That(ReadTable(7, 2), Is.Zero);
        Assert.That(ReadPba(0), Is.Zero);
    }

    [Test]
    public void PbaInSeparateBar_IsMappedThere()
    {
        var msix = new MsixCapability(new MsixOptions(4, 0, 0, 2, 0x800));
        var f = new EndpointFunction("ep", Fn.Identity);
        f.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x1000));
        f.DefineBar(new BarDefinition(2, BarKind.Memory32, 0x1000));
        f.AddCapability(msix);
        f.Seal();
        f.W(msix.Offset + 2, 2, 0x8000);
        msix.Trigger(2); // masked after reset
        Span<byte> b = stackalloc byte[8];
        f.BarRead(2, 0x800, b);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b), Is.EqualTo(0b100UL));
        Assert.That(f.R(msix.Offset + 8, 4), Is.EqualTo(0x800u | 2), "PBA BIR 2");
    }

    [TestCase(0, 0u, 0, 0x8u, Description = "table and PBA overlap")]
    [TestCase(0, 0x4u, 0, 0x800u, Description = "table offset not QWORD aligned")]
    [TestCase(6, 0u, 0, 0x800u, Description = "BIR 6 is reserved")]
    public void Constructor_InvalidPlacement_Throws(int tableBar, uint tableOffset, int pbaBar, uint pbaOffset) =>
        Assert.Throws<ArgumentException>(() => new MsixCapability(16, tableBar, tableOffset, pbaBar, pbaOffset));

    [TestCase(0)]
    [TestCase(2049)]
    public void Constructor_TableSizeOutOfRange_Throws(int size) =>
        Assert.Throws<ArgumentException>(() => new MsixCapability(size, 0, 0, 0, 0x8000));

    [Test]
    public void Seal_TableNotFittingInBar_Throws()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x1000));
        f.AddCapability(new MsixCapability(256, 0, 0x800, 0, 0)); // a 4 KiB table from 0x800 overruns the 4 KiB BAR
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }

    [Test]
    public void Seal_TableInMissingOrIoBar_Throws()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x1000));
        f.AddCapability(new MsixCapability(4, 4, 0, 0, 0x800));
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }

    [Test]
    public void TriggerAndTableAccess_AllocateNothing()
    {
        Program(9, 0xFEE0_0000, 0x99);
        Control(enable: true, functionMask: false);
        _f.Upstream = new NullUpstream();
        _msix.Trigger(9); // warm up
        ReadTable(9, 2);
        long allocated = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                _msix.Trigger(9);
                WriteTable(9, 2, 0x99);
                ReadTable(9, 2);
            }
        });
        Assert.That(allocated, Is.Zero);
    }

    sealed class NullUpstream : IUpstreamPort
    {
        public bool MemoryWrite(PcieVirt.Pci.Bdf requester, ulong address, ReadOnlySpan<byte> data) => true;
        public bool MemoryRead(PcieVirt.Pci.Bdf requester, ulong address, Span<byte> data) => true;
    }
}
