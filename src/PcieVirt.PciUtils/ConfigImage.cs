using System.Buffers.Binary;
using PcieVirt.Fabric;

namespace PcieVirt.PciUtils;

/// <summary>
/// A copy of one function's configuration space read through an <see cref="IConfigAccessor"/>
/// (dword reads, as a tool reading sysfs <c>config</c> would). Extended space (0x100–0xFFF) is
/// marked unavailable when the function does not complete those reads successfully.
/// </summary>
public sealed class ConfigImage
{
    readonly byte[] _bytes = new byte[4096];

    ConfigImage(PciAddress address, IConfigAccessor host)
    {
        Address = address;
        Host = host;
    }

    public PciAddress Address { get; }
    public IConfigAccessor Host { get; }
    /// <summary>Number of bytes read successfully: 64 (the standard header only), 256 or 4096.</summary>
    public int Length { get; private set; }
    public ReadOnlySpan<byte> Bytes => _bytes.AsSpan(0, Length);

    /// <summary>Reads a function's config space; null when its header cannot be read.</summary>
    public static ConfigImage? Read(IConfigAccessor host, PciAddress address)
    {
        var img = new ConfigImage(address, host);
        // Like lspci: the 64-byte header must be readable; the rest of the legacy space and the
        // extended space are used only when the function completes those reads.
        if (!img.Fill(0, 64)) return null;
        img.Length = !img.Fill(64, 256) ? 64 : img.Fill(256, 4096) ? 4096 : 256;
        return img;
    }

    /// <summary>Builds an image from raw bytes (256 or 4096), e.g. for tests.</summary>
    public static ConfigImage FromBytes(PciAddress address, ReadOnlySpan<byte> bytes, IConfigAccessor host)
    {
        var img = new ConfigImage(address, host);
        bytes[..Math.Min(bytes.Length, 4096)].CopyTo(img._bytes);
        img.Length = bytes.Length >= 4096 ? 4096 : bytes.Length >= 256 ? 256 : 64;
        return img;
    }

    bool Fill(int from, int to)
    {
        for (int off = from; off < to; off += 4)
        {
            if (Host.Read(Address, off, 4, out var v) != CompletionStatus.SuccessfulCompletion) return false;
            BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(off), v);
        }
        return true;
    }

    /// <summary>True when <paramref name="length"/> bytes at <paramref name="offset"/> were read.</summary>
    public bool Has(int offset, int length) => offset >= 0 && offset + length <= Length;

    public byte U8(int offset) => offset < Length ? _bytes[offset] : (byte)0xFF;
    public ushort U16(int offset) => (ushort)(U8(offset) | U8(offset + 1) << 8);
    public uint U32(int offset) => (uint)(U16(offset) | U16(offset + 2) << 16);

    public ushort VendorId => U16(0);
    public ushort DeviceId => U16(2);
    public ushort Command => U16(4);
    public ushort Status => U16(6);
    public byte Revision => U8(8);
    public byte ProgIf => U8(9);
    /// <summary>Base class and subclass as one 16-bit value (e.g. 0x0604).</summary>
    public ushort ClassCode => U16(0xA);
    public uint ClassCode24 => (uint)ClassCode << 8 | ProgIf;
    public int HeaderLayout => U8(0xE) & 0x7F;
}
