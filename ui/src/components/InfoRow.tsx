/** One labelled line of a read-only table (a checked passport, an opened complaint); nothing when
 *  there is no value. */
export function infoRow(label: string, value: string | null | undefined, testId: string) {
  return value ? (
    <tr>
      <th scope="row">{label}</th>
      <td data-testid={testId}>{value}</td>
    </tr>
  ) : null;
}
