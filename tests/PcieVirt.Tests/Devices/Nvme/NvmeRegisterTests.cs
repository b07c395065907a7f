using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>Controller registers in BAR0 (NVMe Base 1.4 §3.1): reset values and access semantics, through host MMIO.</summary>
[TestFixture]
public class NvmeRegisterTests
{
    static uint Read32(NvmeTestPlatform p, int offset)
    {
        var b = new byte[4];
        Assert.That(p.Rc.MemoryRead(p.Bar0 + (ulong)offset, b), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    static ulong Read64(NvmeTestPlatform p, int offset)
    {
        var b = new byte[8];
        Assert.That(p.Rc.MemoryRead(p.Bar0 + (ulong)offset, b), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    static void Write32(NvmeTestPlatform p, int offset, uint value) =>
        Assert.That(p.Rc.MemoryWrite(p.Bar0 + (ulong)offset, BitConverter.GetBytes(value)), Is.EqualTo(CompletionStatus.SuccessfulCompletion));

    static void Write64(NvmeTestPlatform p, int offset, ulong value) =>
        Assert.That(p.Rc.MemoryWrite(p.Bar0 + (ulong)offset, BitConverter.GetBytes(value)), Is.EqualTo(CompletionStatus.SuccessfulCompletion));

    [Test]
    public void Cap_EncodesTheOptionsAtTheSpecBitPositions()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { MaxQueueEntries = 1024, TimeoutUnits = 20, MemoryPageSizeMin = 0, MemoryPageSizeMax = 4 });
        // MQES 3FFh (15:0), CQR (16), TO 14h (31:24), DSTRD 0 (35:32), CSS bit 0 = NVM (bit 37), MPSMIN 0 (51:48), MPSMAX 4 (55:52).
        Assert.That(Read64(p, 0x00), Is.EqualTo(0x0040_0020_1401_03FFUL));
        // The two halves read the same as dword accesses.
        Assert.That(Read32(p, 0x00), Is.EqualTo(0x1401_03FFu));
        Assert.That(Read32(p, 0x04), Is.EqualTo(0x0040_0020u));
    }

    [Test]
    public void Cap_DoorbellStrideAndQueueLimitFollowOptions()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { MaxQueueEntries = 64, DoorbellStride = 2, MaxIoQueuePairs = 4 });
        ulong cap = Read64(p, 0);
        Assert.That(cap & 0xFFFF, Is.EqualTo(63UL), "MQES is 0's based");
        Assert.That((cap >> 32) & 0xF, Is.EqualTo(2UL), "DSTRD");
        Assert.That(NvmeRegisters.DoorbellOffset(1, true, 2), Is.EqualTo(0x1000 + 3 * 16), "CQ1 head doorbell at 1000h + (2*1+1) * (4 << 2)");
    }

    [Test]
    public void ResetValues_VsIs1_4AndEverythingElseZero()
    {
        var p = new NvmeTestPlatform();
        Assert.That(Read32(p, 0x08), Is.EqualTo(0x0001_0400u), "VS 1.4.0");
        Assert.That(Read32(p, 0x0C), Is.Zero, "INTMS");
        Assert.That(Read32(p, 0x10), Is.Zero, "INTMC");
        Assert.That(Read32(p, 0x14), Is.Zero, "CC");
        Assert.That(Read32(p, 0x1C), Is.Zero, "CSTS");
        Assert.That(Read32(p, 0x24), Is.Zero, "AQA");
        Assert.That(Read64(p, 0x28), Is.Zero, "ASQ");
        Assert.That(Read64(p, 0x30), Is.Zero, "ACQ");
        Assert.That(Read32(p, 0x18), Is.Zero, "reserved");
        Assert.That(Read32(p, 0x20), Is.Zero, "NSSR not implemented (CAP.NSSRS = 0): reserved");
    }

    [Test]
    public void ReadOnlyRegisters_IgnoreWrites_AndTheWriteIsLogged()
    {
        var p = new NvmeTestPlatform();
        ulong cap = Read64(p, 0);
        Write64(p, 0x00, 0);
        Write32(p, 0x08, 0x0002_0000);
        Write32(p, 0x1C, 0xFFFF_FFFF);
        Assert.That(Read64(p, 0), Is.EqualTo(cap));
        Assert.That(Read32(p, 0x08), Is.EqualTo(0x0001_0400u));
        Assert.That(Read32(p, 0x1C), Is.Zero);
        Assert.That(p.LogMessages(LogLevel.Debug).Count(m => m.Contains("read-only register")), Is.GreaterThanOrEqualTo(3));
    }

    [Test]
    public void Aqa_AsqAcq_KeepOnlyTheirDefinedBits()
    {
        var p = new NvmeTestPlatform();
        Write32(p, 0x24, 0xFFFF_FFFF);
        Assert.That(Read32(p, 0x24), Is.EqualTo(0x0FFF_0FFFu), "ASQS 11:0 and ACQS 27:16; the rest reserved");
        Write64(p, 0x28, ulong.MaxValue);
        Assert.That(Read64(p, 0x28), Is.EqualTo(0xFFFF_FFFF_FFFF_F000UL), "ASQ bits 11:0 reserved");
        // A 64-bit register written as two dwords, low half first.
        Write32(p, 0x30, 0x1234_5000);
        Write32(p, 0x34, 0x0000_0001);
        Assert.That(Read64(p, 0x30), Is.EqualTo(0x1_1234_5000UL));
    }

    [Test]
    public void Cc_ReservedBitsReadZero()
    {
        var p = new NvmeTestPlatform();
        // Everything but EN: bits 23:4 defined (CSS, MPS, AMS, SHN, IOSQES, IOCQES), 3:1 and 31:24 reserved.
        Write32(p, 0x14, 0xFFFF_FFFE);
        Assert.That(Read32(p, 0x14), Is.EqualTo(0x00FF_FFF0u));
    }

    [Test]
    public void IntmsIntmc_SetAndClearOneMask_WhileMsixIsOff()
    {
        var p = new NvmeTestPlatform();
        Write32(p, 0x0C, 0b0101);
        Assert.That(Read32(p, 0x0C), Is.EqualTo(0b0101u));
        Assert.That(Read32(p, 0x10), Is.EqualTo(0b0101u), "both registers read the current mask");
        Write32(p, 0x0C, 0b0010);
        Assert.That(Read32(p, 0x0C), Is.EqualTo(0b0111u), "writing 0 bits leaves them (RW1S)");
        Write32(p, 0x10, 0b0001);
        Assert.That(Read32(p, 0x10), Is.EqualTo(0b0110u), "RW1C");
    }

    [Test]
    public void IntmsIntmc_AreIgnoredWithMsixEnabled()
    {
        var p = new NvmeTestPlatform();
        var d = p.Driver();
        d.MapFunction();
        d.ConfigureMsix();
        Write32(p, 0x0C, 0xF);
        Assert.That(Read32(p, 0x0C), Is.Zero);
        Assert.That(p.LogMessages(LogLevel.Debug).Any(m => m.Contains("MSI-X is enabled")), Is.True);
    }

    [Test]
    public void MisalignedOrOddSizedWrites_AreDropped()
    {
        var p = new NvmeTestPlatform();
        Assert.That(p.Rc.MemoryWrite(p.Bar0 + 0x24, new byte[] { 0x1F, 0x00 }), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(p.Rc.MemoryWrite(p.Bar0 + 0x26, new byte[] { 1, 0, 0, 0 }), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(Read32(p, 0x24), Is.Zero);
        Assert.That(p.LogMessages(LogLevel.Warning).Count(m => m.Contains("not an aligned dword or qword")), Is.EqualTo(2));
    }

    [Test]
    public void ByteReads_ComposeFromTheRegisters()
    {
        var p = new NvmeTestPlatform();
        var b = new byte[2];
        Assert.That(p.Rc.MemoryRead(p.Bar0 + 0x0A, b), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(b, Is.EqualTo(new byte[] { 0x01, 0x00 }), "VS bits 31:16 = major version 1");
    }

    [Test]
    public void Doorbells_ReadAsZero_AndAreIgnoredBeforeEnable()
    {
        var p = new NvmeTestPlatform();
        Write32(p, 0x1000, 5);
        Assert.That(Read32(p, 0x1000), Is.Zero);
        Assert.That(p.LogMessages(LogLevel.Debug).Any(m => m.Contains("controller not ready")), Is.True);
    }

    [Test]
    public void Bar0_HoldsRegistersThenMsixTableAndPba()
    {
        var p = new NvmeTestPlatform();
        var bar = p.Function.Bars[0]!;
        Assert.That(bar.Kind, Is.EqualTo(PcieVirt.Pci.Functions.BarKind.Memory64));
        Assert.That(bar.Size, Is.EqualTo(0x4000UL));
        var msix = p.Function.FindCapability<PcieVirt.Pci.Capabilities.MsixCapability>()!;
        Assert.That(msix.TableBar, Is.Zero);
        Assert.That(msix.TableOffset, Is.EqualTo(0x2000u));
        Assert.That(msix.TableSize, Is.EqualTo(17), "one vector per CQ: 16 I/O + admin");
    }
}
