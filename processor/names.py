"""Common given names (many languages), lower case: evidence that a bare ``name`` holds a person.

Used only for keys that say nothing either way (``name`` under a neutral parent); a key that names a
person's name needs no list, and a product's name is rejected by its parent key first.
"""

FIRST_NAMES = frozenset(
    """
    james john robert michael william david richard joseph thomas charles christopher daniel matthew
    anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason
    jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel
    gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas
    zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl
    arthur lawrence dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne
    elijah randy roy vincent ralph eugene russell bobby mason philip louis liam oliver lucas
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret
    sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca
    sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha
    katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce
    virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline
    martha gloria teresa ann sara madison frances kathryn janice jean abigail alice judy sophia grace
    denise amber doris marilyn danielle beverly isabella theresa diana natalie brittany charlotte marie
    kayla alexis lori ava mia chloe zoe lily
    hans peter klaus jürgen wolfgang stefan andreas thomas michael frank uwe sabine petra monika ursula
    anja katrin julia lena lukas felix leon jonas paul maximilian sophie marie hannah lea laura
    pierre jean jacques michel philippe alain nicolas camille manon chloé léa lucie hugo louis
    giuseppe giovanni antonio marco francesco alessandro luca matteo giulia francesca chiara sofia
    carlos javier miguel alejandro pablo diego sergio jorge lucía carmen isabel elena marta rosa
    joão pedro tiago ana beatriz mariana
    ivan dmitri sergei alexei andrei olga natalia tatiana irina svetlana anastasia
    wei li ming jun hui yan hiroshi takashi yuki haruto sakura yuto aiko kenji
    mohammed muhammad ahmed ali omar hassan fatima aisha layla yusuf ibrahim
    raj rahul amit priya anjali sunita vikram arjun deepak neha pooja ravi sanjay
    kwame kofi amara chidi ngozi oluwaseun abebe
    jan piotr krzysztof anna katarzyna magdalena tomasz
    lars erik anders ingrid astrid nils sven karin
    sean siobhan aoife ciaran niamh
    """.split()
)
