using System.Buffers.Binary;

namespace PcieVirt.Devices.Nvme;

/// <summary>Admin command opcodes (NVMe Base 1.4 §5, Admin Command Set).</summary>
public static class NvmeAdminOpcode
{
    public const byte DeleteIoSubmissionQueue = 0x00;
    public const byte CreateIoSubmissionQueue = 0x01;
    public const byte GetLogPage = 0x02;
    public const byte DeleteIoCompletionQueue = 0x04;
    public const byte CreateIoCompletionQueue = 0x05;
    public const byte Identify = 0x06;
    public const byte Abort = 0x08;
    public const byte SetFeatures = 0x09;
    public const byte GetFeatures = 0x0A;
    public const byte AsynchronousEventRequest = 0x0C;
    public const byte NamespaceAttachment = 0x15;
    public const byte KeepAlive = 0x18;
    public const byte VirtualizationManagement = 0x1C;
}

/// <summary>NVM command set I/O opcodes (NVMe Base 1.4 §6, NVM Command Set).</summary>
public static class NvmeIoOpcode
{
    public const byte Flush = 0x00;
    public const byte Write = 0x01;
    public const byte Read = 0x02;
    public const byte WriteZeroes = 0x08;
    public const byte DatasetManagement = 0x09;
}

/// <summary>Controller or Namespace Structure values of Identify (CNS; Identify command).</summary>
public static class NvmeIdentifyCns
{
    public const byte Namespace = 0x00;
    public const byte Controller = 0x01;
    public const byte ActiveNamespaceList = 0x02;
    public const byte NamespaceIdentificationDescriptors = 0x03;
    public const byte AllocatedNamespaceList = 0x10;
    public const byte AllocatedNamespace = 0x11;
    public const byte NamespaceAttachedControllers = 0x12;
    public const byte SubsystemControllers = 0x13;
    public const byte PrimaryControllerCapabilities = 0x14;
    public const byte SecondaryControllerList = 0x15;
}

/// <summary>Feature Identifiers (Set Features command).</summary>
public static class NvmeFeatureId
{
    public const byte Arbitration = 0x01;
    public const byte PowerManagement = 0x02;
    public const byte TemperatureThreshold = 0x04;
    public const byte ErrorRecovery = 0x05;
    public const byte VolatileWriteCache = 0x06;
    public const byte NumberOfQueues = 0x07;
    public const byte InterruptCoalescing = 0x08;
    public const byte InterruptVectorConfiguration = 0x09;
    public const byte WriteAtomicityNormal = 0x0A;
    public const byte AsynchronousEventConfiguration = 0x0B;
}

/// <summary>Log Page Identifiers (Get Log Page command).</summary>
public static class NvmeLogPageId
{
    public const byte ErrorInformation = 0x01;
    public const byte SmartHealth = 0x02;
    public const byte FirmwareSlot = 0x03;
    public const byte ChangedNamespaceList = 0x04;
}

/// <summary>Asynchronous Event Type and Information values (Asynchronous Event Request command).</summary>
public static class NvmeAsyncEvent
{
    public const byte TypeErrorStatus = 0;
    public const byte TypeSmartHealth = 1;
    public const byte TypeNotice = 2;
    /// <summary>Error status: a doorbell of a queue that does not exist was written.</summary>
    public const byte WriteToInvalidDoorbellRegister = 0x00;
    /// <summary>Error status: a doorbell value beyond the queue or past the entries available.</summary>
    public const byte InvalidDoorbellWriteValue = 0x01;
    /// <summary>Notice: the set of attached namespaces or a namespace's attributes changed.</summary>
    public const byte NamespaceAttributeChanged = 0x00;
}

/// <summary>
/// A 64-byte submission queue entry (NVMe Base 1.4 §4.2) viewed over a span, for reading
/// (the controller) and building (the driver). Dword n is at byte 4n; PRP1 at 24, PRP2 at 32.
/// </summary>
public readonly ref struct NvmeCommand
{
    /// <summary>Size of a submission queue entry (2^6, the only IOSQES this controller supports).</summary>
    public const int Size = 64;
    readonly Span<byte> _b;

    public NvmeCommand(Span<byte> entry)
    {
        if (entry.Length < Size) throw new ArgumentException("a submission queue entry is 64 bytes");
        _b = entry[..Size];
    }

    public Span<byte> Bytes => _b;
    /// <summary>CDW0 bits 7:0.</summary>
    public byte Opcode { get => _b[0]; set => _b[0] = value; }
    /// <summary>CDW0 bits 9:8: fused operation.</summary>
    public int Fuse { get => _b[1] & 3; set => _b[1] = (byte)((_b[1] & ~3) | (value & 3)); }
    /// <summary>CDW0 bits 15:14: PRP or SGL for data transfer (00b = PRPs).</summary>
    public int Psdt { get => _b[1] >> 6; set => _b[1] = (byte)((_b[1] & 0x3F) | (value & 3) << 6); }
    /// <summary>CDW0 bits 31:16: Command Identifier.</summary>
    public ushort CommandId { get => BinaryPrimitives.ReadUInt16LittleEndian(_b[2..]); set => BinaryPrimitives.WriteUInt16LittleEndian(_b[2..], value); }
    /// <summary>CDW1: Namespace Identifier.</summary>
    public uint Nsid { get => Dword(1); set => SetDword(1, value); }
    /// <summary>Data Pointer, PRP Entry 1.</summary>
    public ulong Prp1 { get => BinaryPrimitives.ReadUInt64LittleEndian(_b[24..]); set => BinaryPrimitives.WriteUInt64LittleEndian(_b[24..], value); }
    /// <summary>Data Pointer, PRP Entry 2.</summary>
    public ulong Prp2 { get => BinaryPrimitives.ReadUInt64LittleEndian(_b[32..]); set => BinaryPrimitives.WriteUInt64LittleEndian(_b[32..], value); }
    public uint Cdw10 { get => Dword(10); set => SetDword(10, value); }
    public uint Cdw11 { get => Dword(11); set => SetDword(11, value); }
    public uint Cdw12 { get => Dword(12); set => SetDword(12, value); }
    public uint Cdw13 { get => Dword(13); set => SetDword(13, value); }
    public uint Cdw14 { get => Dword(14); set => SetDword(14, value); }
    public uint Cdw15 { get => Dword(15); set => SetDword(15, value); }

    /// <summary>Starting LBA of NVM commands (CDW10-11).</summary>
    public ulong StartingLba { get => BinaryPrimitives.ReadUInt64LittleEndian(_b[40..]); set => BinaryPrimitives.WriteUInt64LittleEndian(_b[40..], value); }

    public uint Dword(int index) => BinaryPrimitives.ReadUInt32LittleEndian(_b[(4 * index)..]);
    public void SetDword(int index, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_b[(4 * index)..], value);
    public void Clear() => _b.Clear();
}

/// <summary>A 16-byte completion queue entry (NVMe Base 1.4 §4.6), decoded.</summary>
public readonly record struct NvmeCompletion(uint Dword0, uint Dword1, ushort SqHead, ushort SqId, ushort CommandId, bool Phase, NvmeStatus Status)
{
    /// <summary>Size of a completion queue entry (2^4, the only IOCQES this controller supports).</summary>
    public const int Size = 16;

    /// <summary>Decodes an entry.</summary>
    public static NvmeCompletion Parse(ReadOnlySpan<byte> e)
    {
        uint dw2 = BinaryPrimitives.ReadUInt32LittleEndian(e[8..]);
        uint dw3 = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        return new NvmeCompletion(BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]),
            (ushort)dw2, (ushort)(dw2 >> 16), (ushort)dw3, (dw3 & 0x1_0000) != 0, NvmeStatus.FromField((ushort)(dw3 >> 17)));
    }

    /// <summary>Encodes an entry.</summary>
    public static void Write(Span<byte> e, uint dword0, ushort sqHead, ushort sqId, ushort commandId, bool phase, NvmeStatus status)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(e, dword0);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)(sqHead | sqId << 16));
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], commandId | (phase ? 1u << 16 : 0) | (uint)status.Field << 17);
    }
}
