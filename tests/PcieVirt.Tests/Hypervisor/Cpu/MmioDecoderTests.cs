using Iced.Intel;
using PcieVirt.Hypervisor.Cpu;

namespace PcieVirt.Tests.Hypervisor.Cpu;

/// <summary>
/// Decoding byte sequences worked out by hand from the Intel SDM Vol. 2 encoding rules (§2.1 instruction
/// format, Table 2-2 ModRM, Table 2-3 SIB, §2.2.1 REX, §2.2.1.6 RIP-relative; opcodes from the MOV and
/// MOVZX pages). Each case's comment shows the derivation.
/// </summary>
public sealed class MmioDecoderTests
{
    const ulong Rip = 0xFFFF_FFFF_8100_0000;

    static VcpuRegisters Regs()
    {
        var r = new VcpuRegisters { Rip = Rip };
        for (int i = 0; i < 16; i++)
            r.SetGpr(i, 0xA0A0_A0A0_A0A0_A000UL + (ulong)i); // recognisable junk
        return r;
    }

    static MmioAccess DecodeOk(byte[] bytes, VcpuRegisters regs, ulong gpa)
    {
        var decoder = new MmioDecoder();
        bool ok = decoder.TryDecode(bytes, regs, gpa, out MmioAccess access, out MmioDecodeError error);
        Assert.That(error, Is.EqualTo(MmioDecodeError.None));
        Assert.That(ok, Is.True);
        Assert.That(access.Length, Is.EqualTo(bytes.Length), "length");
        return access;
    }

    [Test]
    public void MovDwordRaxDisp32_Ecx()
    {
        // mov dword ptr [rax+0x1008], ecx: 89 /r (MOV r/m32, r32); ModRM mod=10 (disp32) reg=001 (ECX)
        // r/m=000 (RAX) = 0x88; disp32 little-endian 08 10 00 00.
        var regs = Regs();
        regs.Set(Register.RAX, 0xFE00_0000);
        regs.Set(Register.RCX, 0xDEAD_BEEF_1234_5678);
        MmioAccess a = DecodeOk([0x89, 0x88, 0x08, 0x10, 0x00, 0x00], regs, 0xFE00_1008);
        Assert.Multiple(() =>
        {
            Assert.That(a.IsWrite, Is.True);
            Assert.That(a.Form, Is.EqualTo(MmioOperandForm.StoreRegister));
            Assert.That(a.Size, Is.EqualTo(4));
            Assert.That(a.Value, Is.EqualTo(0x1234_5678UL), "ECX, the low half of RCX");
            Assert.That(a.SourceRegister, Is.EqualTo(Register.ECX));
            Assert.That(a.EffectiveAddress, Is.EqualTo(0xFE00_1008UL));
            Assert.That(a.Addressing, Is.EqualTo(MmioAddressingMode.BaseDisp32));
        });
    }

    [Test]
    public void MovR12_Ecx_NeedsSib()
    {
        // mov [r12], ecx: REX.B=1 -> 41; 89; ModRM mod=00 reg=001 r/m=100 (SIB follows) = 0x0C;
        // SIB scale=00 index=100 (none) base=100 (+REX.B = R12) = 0x24.
        var regs = Regs();
        regs.Set(Register.R12, 0xC000_0040);
        regs.Set(Register.ECX, 0xCAFE);
        MmioAccess a = DecodeOk([0x41, 0x89, 0x0C, 0x24], regs, 0xC000_0040);
        Assert.That((a.Size, a.Value, a.Addressing), Is.EqualTo((4, 0xCAFEUL, MmioAddressingMode.Base)));
    }

    [Test]
    public void MovRbxDisp8_Dh_StoresBits15To8OfRdx()
    {
        // mov [rbx+0x10], dh: 88 /r (MOV r/m8, r8); ModRM mod=01 reg=110 (DH, no REX) r/m=011 (RBX) = 0x73; disp8 10.
        var regs = Regs();
        regs.Set(Register.RBX, 0x1000);
        regs.Set(Register.RDX, 0x0000_0000_0000_AB12);
        MmioAccess a = DecodeOk([0x88, 0x73, 0x10], regs, 0x1010);
        Assert.That((a.Size, a.Value, a.SourceRegister, a.Addressing), Is.EqualTo((1, 0xABUL, Register.DH, MmioAddressingMode.BaseDisp8)));
    }

    [Test]
    public void EmptyRexPrefix_TurnsDhIntoSil()
    {
        // mov [rax], sil: REX 40 makes reg=110 mean SIL (SDM Vol. 1 §3.4.1.1, Vol. 2 §2.2.1); ModRM mod=00 reg=110 r/m=000 = 0x30.
        var regs = Regs();
        regs.Set(Register.RAX, 0x2000);
        regs.Set(Register.RSI, 0x77);
        regs.Set(Register.RDX, 0x5500);
        MmioAccess withRex = DecodeOk([0x40, 0x88, 0x30], regs, 0x2000);
        MmioAccess without = DecodeOk([0x88, 0x30], regs, 0x2000);
        Assert.That((withRex.SourceRegister, withRex.Value), Is.EqualTo((Register.SIL, 0x77UL)));
        Assert.That((without.SourceRegister, without.Value), Is.EqualTo((Register.DH, 0x55UL)));
    }

    [Test]
    public void OperandSizePrefix_MakesWordStore()
    {
        // mov [rax], cx: 66 (operand size 16); 89; ModRM mod=00 reg=001 r/m=000 = 0x08.
        var regs = Regs();
        regs.Set(Register.RAX, 0x3000);
        regs.Set(Register.RCX, 0x1234_5678);
        MmioAccess a = DecodeOk([0x66, 0x89, 0x08], regs, 0x3000);
        Assert.That((a.Size, a.Value), Is.EqualTo((2, 0x5678UL)));
    }

    [Test]
    public void QwordImmediateStore_SignExtendsImm32()
    {
        // mov qword ptr [rax], -1: REX.W=48; C7 /0 (MOV r/m64, imm32 sign-extended); ModRM 00 000 000 = 0x00; imm32 FF FF FF FF.
        var regs = Regs();
        regs.Set(Register.RAX, 0x4000);
        MmioAccess a = DecodeOk([0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0xFF], regs, 0x4000);
        Assert.That((a.Form, a.Size, a.Value), Is.EqualTo((MmioOperandForm.StoreImmediate, 8, ulong.MaxValue)));
    }

    [Test]
    public void QwordImmediateStore_PositiveImm32_ZeroUpperHalf()
    {
        // mov qword ptr [rax], 0x7FFFFFFF: 48 C7 00 FF FF FF 7F.
        var regs = Regs();
        regs.Set(Register.RAX, 0x4000);
        MmioAccess a = DecodeOk([0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0x7F], regs, 0x4000);
        Assert.That(a.Value, Is.EqualTo(0x7FFF_FFFFUL));
    }

    [Test]
    public void ByteImmediateStore_WithDisp8()
    {
        // mov byte ptr [rax+4], 0x5A: C6 /0; ModRM mod=01 000 000 = 0x40; disp8 04; imm8 5A.
        var regs = Regs();
        regs.Set(Register.RAX, 0x5000);
        MmioAccess a = DecodeOk([0xC6, 0x40, 0x04, 0x5A], regs, 0x5004);
        Assert.That((a.Form, a.Size, a.Value, a.SourceRegister), Is.EqualTo((MmioOperandForm.StoreImmediate, 1, 0x5AUL, Register.None)));
    }

    [Test]
    public void RipRelativeLoad_CountsFromTheNextInstruction()
    {
        // mov eax, [rip+0x1000]: 8B /r; ModRM mod=00 reg=000 r/m=101 = 0x05 (RIP+disp32 in 64-bit mode); disp32 00 10 00 00.
        // Length 6, so the address is RIP + 6 + 0x1000.
        var regs = Regs();
        regs.Rip = 0x7000;
        MmioAccess a = DecodeOk([0x8B, 0x05, 0x00, 0x10, 0x00, 0x00], regs, 0x7000 + 6 + 0x1000);
        Assert.That((a.IsWrite, a.Size, a.DestinationRegister, a.Addressing), Is.EqualTo((false, 4, Register.EAX, MmioAddressingMode.RipRelative)));
    }

    [Test]
    public void RipRelative_NegativeDisplacement()
    {
        // mov rcx, [rip-0x10]: 48 8B 0D F0 FF FF FF (ModRM 00 001 101 = 0x0D); length 7.
        var regs = Regs();
        regs.Rip = 0x9000;
        MmioAccess a = DecodeOk([0x48, 0x8B, 0x0D, 0xF0, 0xFF, 0xFF, 0xFF], regs, 0x9000 + 7 - 0x10);
        Assert.That((a.Size, a.DestinationRegister), Is.EqualTo((8, Register.RCX)));
    }

    [Test]
    public void MovzxByte_WithDisp8()
    {
        // movzx ecx, byte ptr [rax+8]: 0F B6 /r; ModRM mod=01 reg=001 r/m=000 = 0x48; disp8 08.
        var regs = Regs();
        regs.Set(Register.RAX, 0x6000);
        MmioAccess a = DecodeOk([0x0F, 0xB6, 0x48, 0x08], regs, 0x6008);
        Assert.That((a.Form, a.Size, a.DestinationRegister, a.Extension), Is.EqualTo((MmioOperandForm.LoadZeroExtend, 1, Register.ECX, MmioExtension.ZeroExtend)));
    }

    [Test]
    public void MovzxWord_SibWithRexR()
    {
        // movzx r10d, word ptr [rsi+rcx*4]: REX.R=1 -> 44; 0F B7; ModRM mod=00 reg=010 (+R = R10) r/m=100 = 0x14;
        // SIB scale=10 (x4) index=001 (RCX) base=110 (RSI) = 0x8E.
        var regs = Regs();
        regs.Set(Register.RSI, 0x8000);
        regs.Set(Register.RCX, 3);
        MmioAccess a = DecodeOk([0x44, 0x0F, 0xB7, 0x14, 0x8E], regs, 0x8000 + 3 * 4);
        Assert.That((a.Size, a.DestinationRegister, a.Addressing), Is.EqualTo((2, Register.R10D, MmioAddressingMode.BaseIndexScaleDisp)));
    }

    [Test]
    public void AbsoluteDisp32_WithSibNoBase()
    {
        // mov [0x1000], ecx: 89; ModRM mod=00 reg=001 r/m=100 = 0x0C; SIB scale=00 index=100 base=101 (no base with mod=00) = 0x25; disp32.
        var regs = Regs();
        MmioAccess a = DecodeOk([0x89, 0x0C, 0x25, 0x00, 0x10, 0x00, 0x00], regs, 0x1000);
        Assert.That(a.Addressing, Is.EqualTo(MmioAddressingMode.Absolute));
    }

    [Test]
    public void AbsoluteDisp32_IsSignExtended()
    {
        // mov eax, [0x80000000]: 8B 04 25 00 00 00 80 -> the disp32 is sign-extended: 0xFFFFFFFF80000000.
        MmioAccess a = DecodeOk([0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x80], Regs(), 0xFFFF_FFFF_8000_0000);
        Assert.That(a.EffectiveAddress, Is.EqualTo(0xFFFF_FFFF_8000_0000UL));
    }

    [Test]
    public void RspBaseDisp8_Qword_R10()
    {
        // mov [rsp-8], r10: REX.W+REX.R = 4C; 89; ModRM mod=01 reg=010 r/m=100 = 0x54; SIB 00 100 100 = 0x24; disp8 F8.
        var regs = Regs();
        regs.Set(Register.RSP, 0x9_0000);
        regs.Set(Register.R10, 0x0102_0304_0506_0708);
        MmioAccess a = DecodeOk([0x4C, 0x89, 0x54, 0x24, 0xF8], regs, 0x9_0000 - 8);
        Assert.That((a.Size, a.Value, a.Addressing), Is.EqualTo((8, 0x0102_0304_0506_0708UL, MmioAddressingMode.BaseDisp8)));
    }

    [Test]
    public void R13Base_NeedsDisp8Zero()
    {
        // mov [r13], eax: mod=00 r/m=101 would mean RIP-relative, so [r13] is mod=01 with disp8 0:
        // 41; 89; ModRM 01 000 101 = 0x45; 00.
        var regs = Regs();
        regs.Set(Register.R13, 0xA000);
        MmioAccess a = DecodeOk([0x41, 0x89, 0x45, 0x00], regs, 0xA000);
        Assert.That(a.Addressing, Is.EqualTo(MmioAddressingMode.BaseDisp8));
    }

    [Test]
    public void LoadIntoAh()
    {
        // mov ah, [rax+1]: 8A /r; ModRM mod=01 reg=100 (AH) r/m=000 = 0x60; disp8 01.
        var regs = Regs();
        regs.Set(Register.RAX, 0xB000);
        MmioAccess a = DecodeOk([0x8A, 0x60, 0x01], regs, 0xB001);
        Assert.That((a.Form, a.Size, a.DestinationRegister), Is.EqualTo((MmioOperandForm.Load, 1, Register.AH)));
    }

    [Test]
    public void MovsxdQword()
    {
        // movsxd rdx, dword ptr [rax]: REX.W 48; 63 /r; ModRM 00 010 000 = 0x10.
        var regs = Regs();
        regs.Set(Register.RAX, 0xC000);
        MmioAccess a = DecodeOk([0x48, 0x63, 0x10], regs, 0xC000);
        Assert.That((a.Form, a.Size, a.DestinationRegister, a.Extension), Is.EqualTo((MmioOperandForm.LoadSignExtend, 4, Register.RDX, MmioExtension.SignExtend)));
    }

    [Test]
    public void MoffsLoad_SixtyFourBitAbsoluteAddress()
    {
        // mov eax, [moffs]: A1 with an 8-byte address in 64-bit mode (default address size 64), no ModRM.
        MmioAccess a = DecodeOk([0xA1, 0x08, 0x10, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00], Regs(), 0x40_0000_1008);
        Assert.That((a.Form, a.Size, a.DestinationRegister, a.Addressing), Is.EqualTo((MmioOperandForm.Load, 4, Register.EAX, MmioAddressingMode.Absolute)));
    }

    [Test]
    public void MoffsStore_Qword()
    {
        // mov [moffs], rax: REX.W 48; A3; 8-byte address.
        var regs = Regs();
        regs.Set(Register.RAX, 0x0123_4567_89AB_CDEF);
        MmioAccess a = DecodeOk([0x48, 0xA3, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00], regs, 0x40_0000_2000);
        Assert.That((a.IsWrite, a.Size, a.Value), Is.EqualTo((true, 8, 0x0123_4567_89AB_CDEFUL)));
    }

    [TestCase(new byte[] { 0x3E, 0x89, 0x08 }, TestName = "DsOverride_IgnoredIn64BitMode")]
    [TestCase(new byte[] { 0x2E, 0x89, 0x08 }, TestName = "CsOverride_IgnoredIn64BitMode")]
    [TestCase(new byte[] { 0xF3, 0x89, 0x08 }, TestName = "XreleaseOnMov_Accepted")]
    public void PrefixesTheCpuIgnoresOnMov_AreAccepted(byte[] bytes)
    {
        var regs = Regs();
        regs.Set(Register.RAX, 0x3000);
        regs.Set(Register.RCX, 0x42);
        MmioAccess a = DecodeOk(bytes, regs, 0x3000);
        Assert.That((a.Size, a.Value), Is.EqualTo((4, 0x42UL)));
    }

    [Test]
    public void TrailingBytesAfterTheInstruction_AreIgnored()
    {
        var regs = Regs();
        regs.Set(Register.RAX, 0x3000);
        var decoder = new MmioDecoder();
        // mov [rax], ecx (89 08) followed by a nop and more than 15 bytes in all.
        byte[] bytes = [0x89, 0x08, .. Enumerable.Repeat((byte)0x90, 20)];
        Assert.That(decoder.TryDecode(bytes, regs, 0x3000, out MmioAccess a, out _), Is.True);
        Assert.That(a.Length, Is.EqualTo(2));
    }

    static IEnumerable<TestCaseData> Rejections()
    {
        // add [rax], ecx: 01 /r — a read-modify-write, not a move.
        yield return new TestCaseData(new byte[] { 0x01, 0x08 }, MmioDecodeError.UnsupportedInstruction).SetName("Add_Unsupported");
        // lock add [rax], ecx.
        yield return new TestCaseData(new byte[] { 0xF0, 0x01, 0x08 }, MmioDecodeError.LockPrefix).SetName("LockAdd_LockPrefix");
        // lock or [rax], ecx (09 /r).
        yield return new TestCaseData(new byte[] { 0xF0, 0x09, 0x08 }, MmioDecodeError.LockPrefix).SetName("LockOr_LockPrefix");
        // movsb (A4) and rep movsd (F3 A5): string ops.
        yield return new TestCaseData(new byte[] { 0xA4 }, MmioDecodeError.UnsupportedInstruction).SetName("Movsb_Unsupported");
        yield return new TestCaseData(new byte[] { 0xF3, 0xA5 }, MmioDecodeError.UnsupportedInstruction).SetName("RepMovsd_Unsupported");
        // vmovdqu [rax], ymm0: VEX2 C5, then R̄=1 vvvv=1111 L=1 pp=10 (F3) = FE; 7F; ModRM 00 000 000.
        yield return new TestCaseData(new byte[] { 0xC5, 0xFE, 0x7F, 0x00 }, MmioDecodeError.UnsupportedInstruction).SetName("Vmovdqu_Unsupported");
        // movdqu [rax], xmm0: F3 0F 7F /r.
        yield return new TestCaseData(new byte[] { 0xF3, 0x0F, 0x7F, 0x00 }, MmioDecodeError.UnsupportedInstruction).SetName("Movdqu_Unsupported");
        // mov fs:[rax], ecx: segment override 64.
        yield return new TestCaseData(new byte[] { 0x64, 0x89, 0x08 }, MmioDecodeError.SegmentOverride).SetName("FsOverride");
        yield return new TestCaseData(new byte[] { 0x65, 0x89, 0x08 }, MmioDecodeError.SegmentOverride).SetName("GsOverride");
        // mov [eax], ecx: address-size prefix 67.
        yield return new TestCaseData(new byte[] { 0x67, 0x89, 0x08 }, MmioDecodeError.AddressSizeOverride).SetName("AddressSize67");
        // mov eax, ecx: 89 with mod=11 (C8) — registers only.
        yield return new TestCaseData(new byte[] { 0x89, 0xC8 }, MmioDecodeError.NoMemoryOperand).SetName("RegisterOnly");
        yield return new TestCaseData(Array.Empty<byte>(), MmioDecodeError.Truncated).SetName("Empty_Truncated");
        yield return new TestCaseData(new byte[] { 0x89 }, MmioDecodeError.Truncated).SetName("OpcodeOnly_Truncated");
        yield return new TestCaseData(new byte[] { 0x89, 0x88, 0x08, 0x10 }, MmioDecodeError.Truncated).SetName("ShortDisp32_Truncated");
        // 06 (PUSH ES) is invalid in 64-bit mode (followed by bytes, as a fetch of 15 bytes would be).
        yield return new TestCaseData(new byte[] { 0x06, 0x90, 0x90, 0x90 }, MmioDecodeError.InvalidInstruction).SetName("PushEs_Invalid");
        // LOCK on MOV is #UD (SDM Vol. 2 LOCK page: only listed read-modify-write instructions).
        yield return new TestCaseData(new byte[] { 0xF0, 0x89, 0x08 }, MmioDecodeError.InvalidInstruction).SetName("LockMov_Invalid");
        // 16 legacy prefixes then an opcode: longer than 15 bytes.
        yield return new TestCaseData(Enumerable.Repeat((byte)0x66, 16).Append((byte)0x90).ToArray(), MmioDecodeError.InvalidInstruction).SetName("TooLong_Invalid");
    }

    [TestCaseSource(nameof(Rejections))]
    public void UnsupportedOrBadBytes_ReturnAnErrorKind(byte[] bytes, MmioDecodeError expected)
    {
        var regs = Regs();
        regs.Set(Register.RAX, 0x3000);
        var decoder = new MmioDecoder();
        bool ok = decoder.TryDecode(bytes, regs, 0x3000, out _, out MmioDecodeError error);
        Assert.That((ok, error), Is.EqualTo((false, expected)));
    }

    [Test]
    public void EffectiveAddressNotTheFaultingGpa_IsRejected()
    {
        var regs = Regs();
        regs.Set(Register.RAX, 0xFE00_0000);
        var decoder = new MmioDecoder();
        bool ok = decoder.TryDecode([0x89, 0x88, 0x08, 0x10, 0x00, 0x00], regs, 0xFE00_1000, out _, out MmioDecodeError error);
        Assert.That((ok, error), Is.EqualTo((false, MmioDecodeError.AddressMismatch)));
    }

    [Test]
    public void DecoderIsReusable_AfterAnError()
    {
        var regs = Regs();
        regs.Set(Register.RAX, 0x3000);
        var decoder = new MmioDecoder();
        Assert.That(decoder.TryDecode([0x89], regs, 0x3000, out _, out _), Is.False);
        Assert.That(decoder.TryDecode([0x89, 0x08], regs, 0x3000, out MmioAccess a, out _), Is.True);
        Assert.That(a.Length, Is.EqualTo(2));
    }
}
