using System.Numerics;

namespace PcieVirt.Hypervisor.Interrupts;

/// <summary>
/// The interrupt-acceptance part of a virtual local APIC (Intel SDM Vol. 3A "Interrupt Acceptance for Fixed
/// Interrupts" and "Task and Processor Priorities"; Vol. 3C "Virtual-Interrupt Delivery"): 256-bit IRR (requested) and ISR (in service). Priority follows x86: a vector's
/// priority class is vector &gt;&gt; 4; the highest requested vector is delivered only when its class is above
/// the processor priority (the higher of the task-priority class and the class of the highest in-service
/// vector). Vectors 0-15 are reserved for exceptions and are not accepted. Allocation-free.
/// </summary>
public sealed class VirtualApic
{
    readonly ulong[] _irr = new ulong[4];
    readonly ulong[] _isr = new ulong[4];

    /// <summary>Task priority (TPR); only bits 7:4 (the class) take part in priority decisions.</summary>
    public byte TaskPriority { get; set; }

    /// <summary>Vectors raised (each <see cref="Raise"/> or posted bit moved in, including ones already pending).</summary>
    public long Raised { get; private set; }

    /// <summary>Interrupts acknowledged (moved IRR → ISR).</summary>
    public long Acknowledged { get; private set; }

    /// <summary>End-of-interrupt writes that retired an in-service vector.</summary>
    public long Eois { get; private set; }

    /// <summary>Vectors refused because they are in the reserved range 0-15.</summary>
    public long IllegalVectors { get; private set; }

    /// <summary>Requests the interrupt <paramref name="vector"/> (sets its IRR bit; a second request before acknowledgement merges).</summary>
    public void Raise(byte vector)
    {
        if (vector < 16)
        {
            IllegalVectors++;
            return;
        }
        _irr[vector >> 6] |= 1UL << (vector & 63);
        Raised++;
    }

    /// <summary>True when IRR bit <paramref name="vector"/> is set.</summary>
    public bool IsRequested(byte vector) => (_irr[vector >> 6] & (1UL << (vector & 63))) != 0;

    /// <summary>True when ISR bit <paramref name="vector"/> is set.</summary>
    public bool IsInService(byte vector) => (_isr[vector >> 6] & (1UL << (vector & 63))) != 0;

    /// <summary>Highest vector in IRR, or -1.</summary>
    public int HighestRequested => Highest(_irr);

    /// <summary>Highest vector in ISR, or -1.</summary>
    public int HighestInService => Highest(_isr);

    /// <summary>Processor priority (PPR): the higher of TPR and the highest in-service vector's class, as a class &lt;&lt; 4.</summary>
    public int ProcessorPriority
    {
        get
        {
            int isrClass = HighestInService >> 4; // -1 >> 4 = -1: nothing in service
            int tprClass = TaskPriority >> 4;
            return Math.Max(Math.Max(isrClass, tprClass), 0) << 4;
        }
    }

    /// <summary>True when the highest requested vector's priority class is above the processor priority class.</summary>
    public bool HasDeliverable
    {
        get
        {
            int irr = HighestRequested;
            if (irr < 0) return false;
            int isr = HighestInService;
            // A class equal to an in-service one waits (same class does not nest); an empty ISR blocks nothing.
            if (isr >= 0 && (irr >> 4) <= (isr >> 4)) return false;
            return (irr >> 4) > (TaskPriority >> 4);
        }
    }

    /// <summary>
    /// The CPU accepts the highest deliverable interrupt: its IRR bit moves to ISR and its vector is returned.
    /// Throws when nothing is deliverable (check <see cref="HasDeliverable"/> first).
    /// </summary>
    public byte Acknowledge()
    {
        if (!HasDeliverable) throw new InvalidOperationException("no deliverable interrupt (IRR empty or masked by the processor priority)");
        int v = HighestRequested;
        _irr[v >> 6] &= ~(1UL << (v & 63));
        _isr[v >> 6] |= 1UL << (v & 63);
        Acknowledged++;
        return (byte)v;
    }

    /// <summary>End of interrupt: retires the highest in-service vector (nothing happens when ISR is empty).</summary>
    public void Eoi()
    {
        int v = HighestInService;
        if (v < 0) return;
        _isr[v >> 6] &= ~(1UL << (v & 63));
        Eois++;
    }

    /// <summary>ORs 64-bit words of requested vectors into IRR (word i covers vectors 64i..64i+63); returns how many bits were set.</summary>
    internal int MergeRequests(int word, ulong bits)
    {
        if (word == 0)
        {
            // Reserved vectors 0-15 are refused here as in Raise.
            int reserved = BitOperations.PopCount(bits & 0xFFFF);
            IllegalVectors += reserved;
            bits &= ~0xFFFFUL;
        }
        _irr[word] |= bits;
        int n = BitOperations.PopCount(bits);
        Raised += n;
        return n;
    }

    /// <summary>Clears IRR, ISR and TPR (counters stay).</summary>
    public void Reset()
    {
        Array.Clear(_irr);
        Array.Clear(_isr);
        TaskPriority = 0;
    }

    static int Highest(ulong[] bits)
    {
        for (int w = 3; w >= 0; w--)
            if (bits[w] != 0) return w * 64 + 63 - BitOperations.LeadingZeroCount(bits[w]);
        return -1;
    }
}
