namespace PcieVirt.Devices.Raid;

/// <summary>
/// Walks a request [lba, lba + count) in pieces that never cross a boundary of fixed-size units (pool
/// extents, RAID chunks). A struct so the I/O paths allocate nothing.
/// </summary>
internal struct PieceWalk(long lba, int count, int unitBlocks)
{
    /// <summary>Blocks of the request before the current piece.</summary>
    public int Done { get; private set; }

    /// <summary>Blocks in the current piece.</summary>
    public int Length { get; private set; }

    /// <summary>First block of the current piece.</summary>
    public readonly long Lba => lba + Done;

    /// <summary>Offset of the current piece inside its unit, in blocks.</summary>
    public readonly int Offset => (int)(Lba % unitBlocks);

    /// <summary>Unit (extent, chunk) the current piece lies in.</summary>
    public readonly long Unit => Lba / unitBlocks;

    /// <summary>Moves to the next piece; false once the request is covered.</summary>
    public bool MoveNext()
    {
        Done += Length;
        if (Done >= count)
            return false;
        Length = Math.Min(count - Done, unitBlocks - Offset);
        return true;
    }
}
