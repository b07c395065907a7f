namespace PcieVirt.Devices.Nvme;

/// <summary>A bit field of a register: <see cref="Width"/> bits from bit <see cref="Shift"/>.</summary>
public readonly record struct BitField(int Shift, int Width)
{
    /// <summary>The field's bits in place.</summary>
    public ulong Mask => (Width >= 64 ? ulong.MaxValue : (1UL << Width) - 1) << Shift;
    /// <summary>Extracts the field from <paramref name="register"/>.</summary>
    public ulong Get(ulong register) => (register & Mask) >> Shift;
    /// <summary>Returns <paramref name="register"/> with the field replaced by <paramref name="value"/>.</summary>
    public ulong With(ulong register, ulong value) => (register & ~Mask) | ((value << Shift) & Mask);
}

/// <summary>How a requester write to a controller register behaves.</summary>
public enum NvmeRegisterAccess : byte
{
    /// <summary>Writes are ignored (and logged).</summary>
    ReadOnly,
    /// <summary>Bits in the writable mask take the written value.</summary>
    ReadWrite,
    /// <summary>Writing 1 sets the bit (INTMS); reads return the current interrupt mask.</summary>
    WriteOneToSet,
    /// <summary>Writing 1 clears the bit (INTMC); reads return the current interrupt mask.</summary>
    WriteOneToClear,
}

/// <summary>One controller register: name, place, width, access and where the spec defines it.</summary>
/// <param name="Name">The spec's mnemonic.</param>
/// <param name="Offset">Byte offset in BAR0.</param>
/// <param name="Width">4 or 8 bytes.</param>
/// <param name="Access">Write behaviour.</param>
/// <param name="WritableMask">Bits a requester write may change (for <see cref="NvmeRegisterAccess.ReadWrite"/>).</param>
/// <param name="Spec">Section of the NVMe Base Specification 1.4.</param>
public sealed record NvmeRegisterDefinition(string Name, int Offset, int Width, NvmeRegisterAccess Access, ulong WritableMask, string Spec);

/// <summary>
/// The controller registers of an NVMe controller on PCI Express (NVMe Base 1.4 §3.1), in one table with
/// their fields. Reserved bits read 0 and ignore writes (they are outside every writable mask). The
/// doorbells start at <see cref="Doorbells"/>; queue y's SQ tail doorbell is at 1000h + 2y·(4 &lt;&lt; DSTRD)
/// and its CQ head doorbell at 1000h + (2y+1)·(4 &lt;&lt; DSTRD) (§3.1.24, §3.1.25).
/// </summary>
public static class NvmeRegisters
{
    public const int Cap = 0x00, Vs = 0x08, Intms = 0x0C, Intmc = 0x10, Cc = 0x14, Csts = 0x1C,
        Nssr = 0x20, Aqa = 0x24, Asq = 0x28, Acq = 0x30;
    /// <summary>First doorbell register.</summary>
    public const int Doorbells = 0x1000;

    /// <summary>Controller Capabilities fields (§3.1.1).</summary>
    public static class CapFields
    {
        /// <summary>Maximum Queue Entries Supported, 0's based.</summary>
        public static readonly BitField Mqes = new(0, 16);
        /// <summary>Contiguous Queues Required.</summary>
        public static readonly BitField Cqr = new(16, 1);
        /// <summary>Arbitration Mechanism Supported (bit 17 weighted round robin with urgent, bit 18 vendor specific).</summary>
        public static readonly BitField Ams = new(17, 2);
        /// <summary>Timeout: worst-case time to wait for CSTS.RDY to change, in 500 ms units.</summary>
        public static readonly BitField To = new(24, 8);
        /// <summary>Doorbell Stride: doorbells are 2^(2+DSTRD) bytes apart.</summary>
        public static readonly BitField Dstrd = new(32, 4);
        /// <summary>NVM Subsystem Reset Supported.</summary>
        public static readonly BitField Nssrs = new(36, 1);
        /// <summary>Command Sets Supported (bit 37 = NVM command set).</summary>
        public static readonly BitField Css = new(37, 8);
        /// <summary>Memory Page Size Minimum: 2^(12+MPSMIN).</summary>
        public static readonly BitField MpsMin = new(48, 4);
        /// <summary>Memory Page Size Maximum: 2^(12+MPSMAX).</summary>
        public static readonly BitField MpsMax = new(52, 4);
    }

    /// <summary>Controller Configuration fields (§3.1.5).</summary>
    public static class CcFields
    {
        public static readonly BitField En = new(0, 1);
        /// <summary>I/O Command Set Selected (000b NVM).</summary>
        public static readonly BitField Css = new(4, 3);
        /// <summary>Memory Page Size: 2^(12+MPS).</summary>
        public static readonly BitField Mps = new(7, 4);
        /// <summary>Arbitration Mechanism Selected (000b round robin).</summary>
        public static readonly BitField Ams = new(11, 3);
        /// <summary>Shutdown Notification (01b normal, 10b abrupt).</summary>
        public static readonly BitField Shn = new(14, 2);
        /// <summary>I/O Submission Queue Entry Size: 2^n bytes.</summary>
        public static readonly BitField Iosqes = new(16, 4);
        /// <summary>I/O Completion Queue Entry Size: 2^n bytes.</summary>
        public static readonly BitField Iocqes = new(20, 4);
    }

    /// <summary>Controller Status fields (§3.1.6).</summary>
    public static class CstsFields
    {
        public static readonly BitField Rdy = new(0, 1);
        /// <summary>Controller Fatal Status.</summary>
        public static readonly BitField Cfs = new(1, 1);
        /// <summary>Shutdown Status (00b normal operation, 01b processing, 10b complete).</summary>
        public static readonly BitField Shst = new(2, 2);
    }

    /// <summary>Admin Queue Attributes fields (§3.1.8), both 0's based.</summary>
    public static class AqaFields
    {
        public static readonly BitField Asqs = new(0, 12);
        public static readonly BitField Acqs = new(16, 12);
    }

    /// <summary>
    /// The register table. CC bits 31:24 and the low 4 KiB-offset bits of ASQ/ACQ are reserved (the admin
    /// queues are 4 KiB aligned, §3.1.9-10). CSTS is read-only here: NSSRO is not implemented (no NVM
    /// subsystem reset), so the whole register is status the controller drives.
    /// </summary>
    public static IReadOnlyList<NvmeRegisterDefinition> Table => s_table;

    static readonly NvmeRegisterDefinition[] s_table =
    [
        new("CAP", Cap, 8, NvmeRegisterAccess.ReadOnly, 0, "§3.1.1"),
        new("VS", Vs, 4, NvmeRegisterAccess.ReadOnly, 0, "§3.1.2"),
        new("INTMS", Intms, 4, NvmeRegisterAccess.WriteOneToSet, 0xFFFF_FFFF, "§3.1.3"),
        new("INTMC", Intmc, 4, NvmeRegisterAccess.WriteOneToClear, 0xFFFF_FFFF, "§3.1.4"),
        new("CC", Cc, 4, NvmeRegisterAccess.ReadWrite,
            CcFields.En.Mask | CcFields.Css.Mask | CcFields.Mps.Mask | CcFields.Ams.Mask | CcFields.Shn.Mask
            | CcFields.Iosqes.Mask | CcFields.Iocqes.Mask, "§3.1.5"),
        new("CSTS", Csts, 4, NvmeRegisterAccess.ReadOnly, 0, "§3.1.6"),
        new("AQA", Aqa, 4, NvmeRegisterAccess.ReadWrite, AqaFields.Asqs.Mask | AqaFields.Acqs.Mask, "§3.1.8"),
        new("ASQ", Asq, 8, NvmeRegisterAccess.ReadWrite, ~0xFFFUL, "§3.1.9"),
        new("ACQ", Acq, 8, NvmeRegisterAccess.ReadWrite, ~0xFFFUL, "§3.1.10"),
    ];

    /// <summary>The table entry whose bytes include <paramref name="offset"/>, or null (reserved space).</summary>
    public static NvmeRegisterDefinition? Find(int offset)
    {
        // An array walked by index: register accesses (CSTS polling) allocate nothing.
        var t = s_table;
        for (int i = 0; i < t.Length; i++)
            if (offset >= t[i].Offset && offset < t[i].Offset + t[i].Width) return t[i];
        return null;
    }

    /// <summary>Byte offset of the SQ tail (<paramref name="completion"/> false) or CQ head doorbell of queue <paramref name="qid"/>.</summary>
    public static int DoorbellOffset(int qid, bool completion, int doorbellStride) =>
        Doorbells + (2 * qid + (completion ? 1 : 0)) * (4 << doorbellStride);

    /// <summary>VS value for major.minor.tertiary.</summary>
    public static uint Version(int major, int minor, int tertiary = 0) => (uint)(major << 16 | minor << 8 | tertiary);
}
