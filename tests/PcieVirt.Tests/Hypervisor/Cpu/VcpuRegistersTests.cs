using Iced.Intel;
using PcieVirt.Hypervisor.Cpu;

namespace PcieVirt.Tests.Hypervisor.Cpu;

/// <summary>Sub-register semantics of the 64-bit general registers (Intel SDM Vol. 1 §3.4.1.1).</summary>
public sealed class VcpuRegistersTests
{
    const ulong Pattern = 0x1122_3344_5566_7788;

    [Test]
    public void ThirtyTwoBitWrite_ZeroExtendsToSixtyFourBits()
    {
        var r = new VcpuRegisters();
        r.Set(Register.RAX, Pattern);
        r.Set(Register.EAX, 0xAABB_CCDD_EEFF_0011);
        Assert.That(r.Get(Register.RAX), Is.EqualTo(0x0000_0000_EEFF_0011UL));
    }

    [Test]
    public void SixteenBitWrite_PreservesUpperBits()
    {
        var r = new VcpuRegisters();
        r.Set(Register.R11, Pattern);
        r.Set(Register.R11W, 0xBEEF);
        Assert.That(r.Get(Register.R11), Is.EqualTo(0x1122_3344_5566_BEEFUL));
    }

    [Test]
    public void LowByteWrite_PreservesOtherBits()
    {
        var r = new VcpuRegisters();
        r.Set(Register.RCX, Pattern);
        r.Set(Register.CL, 0x1FF); // truncated to 8 bits
        Assert.That(r.Get(Register.RCX), Is.EqualTo(0x1122_3344_5566_77FFUL));
    }

    [TestCase(Register.AH, 0)]
    [TestCase(Register.CH, 1)]
    [TestCase(Register.DH, 2)]
    [TestCase(Register.BH, 3)]
    public void HighByteRegisters_AreBits15To8OfTheirLegacyRegister(Register high, int gpr)
    {
        var r = new VcpuRegisters();
        r.SetGpr(gpr, Pattern);
        Assert.That(r.Get(high), Is.EqualTo(0x77UL));
        r.Set(high, 0xA5);
        Assert.That(r.GetGpr(gpr), Is.EqualTo(0x1122_3344_5566_A588UL));
    }

    // With a REX prefix the byte encodings 4..7 name SPL/BPL/SIL/DIL, the low bytes of RSP..RDI.
    [TestCase(Register.SPL, 4)]
    [TestCase(Register.BPL, 5)]
    [TestCase(Register.SIL, 6)]
    [TestCase(Register.DIL, 7)]
    [TestCase(Register.R8L, 8)]
    [TestCase(Register.R15L, 15)]
    public void RexByteRegisters_AreLowBytes(Register low, int gpr)
    {
        var r = new VcpuRegisters();
        r.SetGpr(gpr, Pattern);
        Assert.That(r.Get(low), Is.EqualTo(0x88UL));
        r.Set(low, 0x5A);
        Assert.That(r.GetGpr(gpr), Is.EqualTo(0x1122_3344_5566_775AUL));
        for (int other = 0; other < VcpuRegisters.GeneralRegisterCount; other++)
            if (other != gpr)
                Assert.That(r.GetGpr(other), Is.Zero, $"register {other} untouched");
    }

    [Test]
    public void RegisterNumbers_FollowTheEncodingOrder()
    {
        var r = new VcpuRegisters();
        for (int i = 0; i < 16; i++)
            r.SetGpr(i, (ulong)i * 0x0101_0101_0101_0101);
        Assert.Multiple(() =>
        {
            Assert.That(r.Get(Register.RAX), Is.EqualTo(0UL));
            Assert.That(r.Get(Register.ECX), Is.EqualTo(0x0101_0101UL));
            Assert.That(r.Get(Register.RSP), Is.EqualTo(4 * 0x0101_0101_0101_0101UL));
            Assert.That(r.Get(Register.DI), Is.EqualTo(0x0707UL));
            Assert.That(r.Get(Register.R13D), Is.EqualTo(0x0D0D_0D0DUL));
            Assert.That(r.Get(Register.R15), Is.EqualTo(15 * 0x0101_0101_0101_0101UL));
        });
    }

    [Test]
    public void RipAndEip()
    {
        var r = new VcpuRegisters { Rip = 0xFFFF_FFFF_8100_1234 };
        Assert.That(r.Get(Register.RIP), Is.EqualTo(0xFFFF_FFFF_8100_1234UL));
        Assert.That(r.Get(Register.EIP), Is.EqualTo(0x8100_1234UL));
        r.Set(Register.RIP, 5);
        Assert.That(r.Rip, Is.EqualTo(5UL));
    }

    [Test]
    public void RflagsResetValue_HasReservedBitOne()
    {
        Assert.That(new VcpuRegisters().Rflags, Is.EqualTo(0x2UL));
    }

    [TestCase(Register.AH, 1)]
    [TestCase(Register.R8L, 1)]
    [TestCase(Register.R9W, 2)]
    [TestCase(Register.ESP, 4)]
    [TestCase(Register.EIP, 4)]
    [TestCase(Register.R15, 8)]
    [TestCase(Register.RIP, 8)]
    public void SizeOf_GivesRegisterWidth(Register register, int bytes) =>
        Assert.That(VcpuRegisters.SizeOf(register), Is.EqualTo(bytes));

    [TestCase(Register.None)]
    [TestCase(Register.XMM0)]
    [TestCase(Register.FS)]
    public void NonGeneralRegister_Throws(Register register)
    {
        var r = new VcpuRegisters();
        Assert.That(() => r.Get(register), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => r.Set(register, 1), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(VcpuRegisters.IsSupported(register), Is.False);
    }
}
