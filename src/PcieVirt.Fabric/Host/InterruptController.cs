using System.Buffers.Binary;
using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>An MSI / MSI-X message as it reached the host: a dword memory write to the interrupt range.</summary>
public readonly record struct MsiMessage(Bdf RequesterId, ulong Address, uint Data)
{
    /// <summary>Interrupt vector (x86 MSI data bits 7:0).</summary>
    public byte Vector => (byte)Data;
    /// <summary>Destination ID (x86 MSI address bits 19:12).</summary>
    public byte DestinationId => (byte)(Address >> 12);
}

/// <summary>
/// The host's interrupt controller as the root complex sees it: memory writes to
/// 0xFEE0_0000-0xFEEF_FFFF are MSI/MSI-X messages (§6.1.4; x86 places the local APIC message
/// range there). Counts messages per vector, remembers the most recent ones in a fixed ring and
/// raises <see cref="MessageReceived"/>. Delivery allocates nothing.
/// </summary>
public sealed class InterruptController
{
    /// <summary>First address of the message range.</summary>
    public const ulong MsiBase = 0xFEE0_0000;
    /// <summary>Last address of the message range.</summary>
    public const ulong MsiLimit = 0xFEEF_FFFF;
    /// <summary>How many recent messages <see cref="RecentMessages"/> keeps.</summary>
    public const int HistoryDepth = 64;

    readonly long[] _perVector = new long[256];
    readonly MsiMessage[] _history = new MsiMessage[HistoryDepth];
    int _historyNext;

    /// <summary>True for addresses in the MSI message range.</summary>
    public static bool IsMsiAddress(ulong address) => address >= MsiBase && address <= MsiLimit;

    /// <summary>Raised for each accepted message, after counting it.</summary>
    public event Action<MsiMessage>? MessageReceived;

    /// <summary>Messages accepted since creation or <see cref="ClearCounters"/>.</summary>
    public long TotalMessages { get; private set; }

    /// <summary>Messages dropped as malformed (not a dword, not dword aligned).</summary>
    public long MalformedMessages { get; private set; }

    /// <summary>The last accepted message, if any.</summary>
    public MsiMessage? LastMessage { get; private set; }

    public long CountForVector(int vector) => _perVector[vector & 0xFF];

    /// <summary>The last up to <see cref="HistoryDepth"/> messages, oldest first (allocates; for tools and tests).</summary>
    public MsiMessage[] RecentMessages()
    {
        int n = (int)Math.Min(TotalMessages, HistoryDepth);
        var result = new MsiMessage[n];
        for (int i = 0; i < n; i++) result[i] = _history[(_historyNext - n + i + HistoryDepth) % HistoryDepth];
        return result;
    }

    public void ClearCounters()
    {
        Array.Clear(_perVector);
        TotalMessages = 0;
        MalformedMessages = 0;
        LastMessage = null;
        _historyNext = 0;
    }

    /// <summary>
    /// Accepts a posted write to the message range. MSI/MSI-X messages are a single dword to a
    /// dword-aligned address (§6.1.4.1, §6.1.4.2); anything else is rejected (returns false).
    /// </summary>
    public bool Deliver(Bdf requesterId, ulong address, ReadOnlySpan<byte> data)
    {
        if (!IsMsiAddress(address) || data.Length != 4 || (address & 3) != 0)
        {
            MalformedMessages++;
            return false;
        }
        var msg = new MsiMessage(requesterId, address, BinaryPrimitives.ReadUInt32LittleEndian(data));
        _perVector[msg.Vector]++;
        TotalMessages++;
        LastMessage = msg;
        _history[_historyNext] = msg;
        _historyNext = (_historyNext + 1) % HistoryDepth;
        MessageReceived?.Invoke(msg);
        return true;
    }
}
