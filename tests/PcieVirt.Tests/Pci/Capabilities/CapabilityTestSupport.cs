using System.Buffers.Binary;
using System.Text;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Pci.Capabilities;

/// <summary>An upstream port that records every memory write a function masters.</summary>
sealed class RecordingUpstream : IUpstreamPort
{
    public readonly List<(Bdf Requester, ulong Address, uint Data, int Length)> Writes = [];
    public bool Accept { get; set; } = true;

    public bool MemoryWrite(Bdf requester, ulong address, ReadOnlySpan<byte> data)
    {
        uint v = data.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(data) : 0;
        Writes.Add((requester, address, v, data.Length));
        return Accept;
    }

    public bool MemoryRead(Bdf requester, ulong address, Span<byte> data)
    {
        data.Clear();
        return true;
    }
}

static class Fn
{
    public static readonly FunctionIdentity Identity = new() { VendorId = 0x1af4, DeviceId = 0x1000, ClassCode = 0x010400 };

    /// <summary>A sealed Type 0 endpoint with one 16 KiB 64-bit BAR and the given capabilities.</summary>
    public static EndpointFunction Endpoint(params PciCapability[] caps)
    {
        var f = new EndpointFunction("ep", Identity);
        f.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x4000));
        foreach (var c in caps) f.AddCapability(c);
        f.Seal();
        f.Bdf = new Bdf(1, 0, 0);
        return f;
    }

    public static BridgeFunction Bridge(BridgePortKind kind, params PciCapability[] caps)
    {
        var f = new BridgeFunction("port", Identity with { ClassCode = 0x060400 }, kind);
        foreach (var c in caps) f.AddCapability(c);
        f.Seal();
        return f;
    }

    /// <summary>Write as the host does (masked), through the function's config space.</summary>
    public static void W(this PciFunction f, int offset, int width, uint value) => f.Config.Write(offset, width, value);
    public static uint R(this PciFunction f, int offset, int width) => f.Config.Read(offset, width);

    public static void EnableBusMaster(this PciFunction f, bool on = true) =>
        f.W(PciRegs.Command, 2, (f.R(PciRegs.Command, 2) & ~(uint)PciCommand.BusMaster) | (on ? (uint)(PciCommand.BusMaster | PciCommand.MemorySpace) : (uint)PciCommand.MemorySpace));
}

/// <summary>
/// Renders functions in the text format of <c>lspci -xxxx</c> and decodes it with the real lspci
/// (<c>lspci -F file -vvv</c>), so capability layouts are checked against an independent decoder.
/// </summary>
static class Lspci
{
    public static string Dump(params (Bdf Bdf, PciFunction Function)[] functions)
    {
        var sb = new StringBuilder();
        foreach (var (bdf, f) in functions)
        {
            sb.Append($"{bdf} Class {f.Identity.ClassCode >> 8:x4}: {f.Identity.VendorId:x4}:{f.Identity.DeviceId:x4}\n");
            var bytes = f.Config.Bytes;
            for (int row = 0; row < ConfigSpace.Size; row += 16)
            {
                sb.Append($"{row:x2}:");
                for (int i = 0; i < 16; i++) sb.Append($" {bytes[row + i]:x2}");
                sb.Append('\n');
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The real <c>lspci -vvv</c> decoding of the functions; ignores the test when pciutils is not installed.</summary>
    public static string DecodeOrIgnore(params (Bdf Bdf, PciFunction Function)[] functions)
    {
        RealPciutils.IgnoreUnlessInstalled();
        using var dump = new DumpFile(Dump(functions));
        return RealPciutils.Lspci(dump.Path, "-vvv");
    }
}
